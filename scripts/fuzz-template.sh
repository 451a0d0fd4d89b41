#!/bin/sh
# Builds the libFuzzer targets with clang (ASan + UBSan) in one fuzz build dir and runs each for
# a bounded time: the template engine (SECONDS, default 60), then the inventory and playbook
# loaders of controller/rollout (ROLLOUT_SECONDS each, default 30; 0 skips them).
# Usage: scripts/fuzz-template.sh [SECONDS [ROLLOUT_SECONDS]]
# Each fuzzer starts from a fresh copy of its checked-in corpus (tests/controller/*/fuzz_corpus).
# Exit status is non-zero if a fuzzer finds a crash, a leak, a hang or a sanitizer report.
set -eu
SECONDS_TO_RUN="${1:-60}"
ROLLOUT_SECONDS="${2:-${FUZZ_ROLLOUT_SECONDS:-30}}"
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
cmake --build "$BUILD" -j2 --target template_fuzzer inventory_fuzzer playbook_fuzzer

# A fresh working corpus per fuzzer, seeded from the checked-in one, so runs do not dirty the tree.
# Crash, leak and timeout inputs are kept in the build dir (fuzz-artifacts/NAME-crash-...).
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
ARTIFACTS="$BUILD/fuzz-artifacts"
mkdir -p "$ARTIFACTS"

# run_fuzzer NAME BINARY SEED_DIR SECONDS [extra libFuzzer flags...]
run_fuzzer() {
  name="$1" bin="$2" seeds="$3" secs="$4"
  shift 4
  mkdir -p "$WORK/$name"
  cp "$seeds"/* "$WORK/$name"/ 2>/dev/null || true
  echo "== fuzzing $name for $secs s"
  (cd "$WORK/$name" && "$bin" -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 \
     -artifact_prefix="$ARTIFACTS/$name-" -print_final_stats=1 "$@" "$WORK/$name")
}

run_fuzzer template "$BUILD/tests/controller/template/template_fuzzer" \
  "$ROOT/tests/controller/template/fuzz_corpus" "$SECONDS_TO_RUN" \
  -max_len=4096 -dict="$ROOT/tests/controller/template/fuzz.dict"
if [ "$ROLLOUT_SECONDS" != "0" ]; then
  run_fuzzer inventory "$BUILD/tests/controller/rollout/inventory_fuzzer" \
    "$ROOT/tests/controller/rollout/fuzz_corpus/inventory" "$ROLLOUT_SECONDS" -max_len=4096
  run_fuzzer playbook "$BUILD/tests/controller/rollout/playbook_fuzzer" \
    "$ROOT/tests/controller/rollout/fuzz_corpus/playbook" "$ROLLOUT_SECONDS" -max_len=4096
fi
