#!/bin/sh
# Builds the template engine's libFuzzer target with clang (ASan + UBSan) and runs it for a
# bounded time. Usage: scripts/fuzz-template.sh [SECONDS] (default 60).
# Exit status is non-zero if the fuzzer finds a crash, a leak or a sanitizer report.
set -eu
SECONDS_TO_RUN="${1:-60}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# Inside the checkout: a build dir is tied to one source tree, and CI clones afresh.
BUILD="${TACHYON_FUZZ_BUILD_DIR:-$ROOT/build-fuzz}"
CXX_BIN="$(command -v clang++ || command -v clang++-14 || true)"
if [ -z "$CXX_BIN" ]; then
  echo "fuzz-template: clang++ not found (apt-get install clang-14 libclang-rt-14-dev)" >&2
  exit 2
fi
cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER="$CXX_BIN" -DTACHYON_FUZZ=ON >/dev/null
cmake --build "$BUILD" -j2 --target template_fuzzer
# A fresh working corpus seeded from the checked-in one, so runs do not dirty the tree.
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cp "$ROOT"/tests/controller/template/fuzz_corpus/* "$WORK"/ 2>/dev/null || true
cd "$WORK"
"$BUILD/tests/controller/template/template_fuzzer" \
  -max_total_time="$SECONDS_TO_RUN" -timeout=20 -rss_limit_mb=2048 -max_len=4096 \
  -dict="$ROOT/tests/controller/template/fuzz.dict" -print_final_stats=1 "$WORK"
