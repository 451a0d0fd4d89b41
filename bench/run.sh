#!/usr/bin/env bash
# The seed benchmark: runs the seed's async patterns (bench/seed/*.yml) through ansible-playbook
# (-c local) and through tachyon (a fresh PKI, controller and four local agents), on this machine,
# in this run, and prints each pattern's wall time next to the time its jobs actually take.
#
#   bench/run.sh                 every pattern; writes bench/RESULTS.md
#   bench/run.sh --quick         patterns 07 and 16 (CI smoke); writes no results file
#   bench/run.sh --only 07,14    these patterns
#   options: --results FILE (write the report there), --no-build (use BUILD_DIR as it is),
#            --tachyon-only (skip ansible-playbook)
#   env: BUILD_DIR (default ./build), KEEP=1 keeps the scratch directory (logs of every run),
#        TACHYON_COMMIT names the commit the binaries were built from (default: this checkout's HEAD)
#
# "jobs take" is the sum, along the critical path, of the fixed sleeps of the stand-in scripts
# (bench/seed/bin) the pattern's jobs run: what an ideal runner would need. Each playbook's header
# says how it adds up. "overhead" is tachyon's wall time minus that; the goal is <= 0.3 s.
# Exit status: 0 when every run ended with the exit code it should, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CMDLINE="${BUILD_DIR:+BUILD_DIR=$BUILD_DIR }bench/run.sh${*:+ $*}"

QUICK=0 BUILD=1 ANSIBLE=1 ONLY="" RESULTS=""
while (($#)); do
  case $1 in
    --quick) QUICK=1 ;;
    --no-build) BUILD=0 ;;
    --tachyon-only) ANSIBLE=0 ;;
    --only) ONLY=$2; shift ;;
    --results) RESULTS=$2; shift ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "bench/run.sh: unknown option $1" >&2; exit 5 ;;
  esac
  shift
done

# pattern, seconds its jobs take on the critical path, the exit code tachyon and ansible-playbook
# should give (ansible-core 2.14 fails the seed's pattern 13: see its header).
PATTERNS=(
  "01_fire_and_forget_basic 0 0 0"
  "02_yum_update_polling 1 0 0"
  "03_database_backup 2 0 0"
  "04_restart_service_wait 1 0 0"
  "05_parallel_backups 1 0 0"
  "06_check_status_later 5 0 0"
  "07_parallel_service_updates 5 0 0"
  "08_batch_processing 2 0 0"
  "09_serial_batches 6 0 0"
  "10_throttle 3 0 0"
  "11_zero_downtime 4 0 0"
  "12_parallel_sync 4 0 0"
  "13_distributed_build 4 0 2"
  "14_cleanup 3 0 0"
  "15_handle_failures 3.5 0 0"
  "16_common_issues 0 2 2"
)
# Patterns whose fire-and-forget jobs outlive the playbook: let them end before the next run.
declare -A SETTLE=([01_fire_and_forget_basic]=5 [05_parallel_backups]=3)
HOSTS=(web01 web02 db01 loadbalancer)

if ((QUICK)) && [[ -z $ONLY ]]; then ONLY=07,16; fi
if ((!QUICK)) && [[ -z $ONLY && -z $RESULTS ]]; then RESULTS=$ROOT/bench/RESULTS.md; fi
selected=()
for p in "${PATTERNS[@]}"; do
  n=${p%% *}
  if [[ -z $ONLY ]] || [[ ,$ONLY, == *,${n:0:2},* ]]; then selected+=("$p"); fi
done
((${#selected[@]})) || { echo "bench/run.sh: no pattern matches --only $ONLY" >&2; exit 5; }

BUILD_DIR=${BUILD_DIR:-$ROOT/build}
if ((BUILD)); then
  echo "== building tachyon in $BUILD_DIR (quick when it is up to date)"
  TARGETS="tachyon tachyon-controller tachyon-agent" scripts/build.sh "$BUILD_DIR" >/dev/null
fi
T=$BUILD_DIR/controller/cli/tachyon
CTL=$BUILD_DIR/controller/tachyon-controller
AGENT=$BUILD_DIR/agent/tachyon-agent
for b in "$T" "$CTL" "$AGENT"; do
  [[ -x $b ]] || { echo "bench/run.sh: $b is missing (build it, or set BUILD_DIR)" >&2; exit 1; }
done
if ((ANSIBLE)) && ! command -v ansible-playbook >/dev/null; then
  echo "bench/run.sh: ansible-playbook is not installed (scripts/deps.sh installs it)" >&2
  exit 1
fi

WORK=$(mktemp -d /tmp/tachyon-bench.XXXXXX)
PIDS=()
cleanup() {
  local rc=$?
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ ${KEEP:-0} == 1 || $rc != 0 ]]; then
    echo "scratch directory (logs of every run): $WORK" >&2
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_for_line() {  # FILE REGEX: bounded wait on what a daemon says
  local file=$1 regex=$2 deadline=$((SECONDS + 30))
  until grep -qE "$regex" "$file" 2>/dev/null; do
    ((SECONDS < deadline)) || { echo "timed out waiting for /$regex/ in $file" >&2; cat "$file" >&2; exit 1; }
    sleep 0.05
  done
}

echo "== starting a controller and ${#HOSTS[@]} agents (${HOSTS[*]}) in $WORK"
$T pki init --dir "$WORK/pki" --san 127.0.0.1,localhost >/dev/null
for a in "${HOSTS[@]}"; do $T pki issue agent "$a" --dir "$WORK/pki" >/dev/null; done
"$CTL" --listen 127.0.0.1:0 --state-dir "$WORK/controller" --port-file "$WORK/port" \
  --ca "$WORK/pki/ca.crt" --cert "$WORK/pki/controller.crt" --key "$WORK/pki/controller.key" \
  2>"$WORK/controller.log" &
PIDS+=($!)
wait_for_line "$WORK/controller.log" "listening on"
PORT=$(cat "$WORK/port")
for a in "${HOSTS[@]}"; do
  "$AGENT" --controller "127.0.0.1:$PORT" --state-dir "$WORK/agent-$a" --ca "$WORK/pki/ca.crt" \
    --cert "$WORK/pki/agents/$a.crt" --key "$WORK/pki/agents/$a.key" 2>"$WORK/agent-$a.log" &
  PIDS+=($!)
done
for a in "${HOSTS[@]}"; do wait_for_line "$WORK/controller.log" "agent '$a' connected"; done
export TACHYON_CONTROLLER=127.0.0.1:$PORT TACHYON_CA=$WORK/pki/ca.crt \
  TACHYON_CERT=$WORK/pki/admin.crt TACHYON_KEY=$WORK/pki/admin.key

# ansible-playbook as a user would run it, minus interpreter discovery warnings and colour.
export ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3 ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 \
  ANSIBLE_LOCALHOST_WARNING=false ANSIBLE_ASYNC_DIR=$WORK/ansible-async \
  ANSIBLE_LOCAL_TEMP=$WORK/ansible-tmp ANSIBLE_RETRY_FILES_ENABLED=false

SEED=$ROOT/bench/seed
mkdir -p "$WORK/logs" "$WORK/out-tachyon" "$WORK/out-ansible"
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

rows=() failures=0
for p in "${selected[@]}"; do
  read -r name jobs want awant <<<"$p"
  echo "== $name (jobs take ${jobs} s)"
  t0=$(now)
  set +e
  $T run "$SEED/$name.yml" -i "$SEED/inventory.ini" -e "seed_bin=$SEED/bin" \
    -e "out_dir=$WORK/out-tachyon" -o json >"$WORK/logs/$name.tachyon.json" 2>&1
  trc=$?
  set -e
  t1=$(now)
  tw=$(elapsed "$t0" "$t1")
  echo "   tachyon: ${tw} s (exit $trc)"
  [[ $trc == "$want" ]] || { echo "   tachyon exited $trc, expected $want: $WORK/logs/$name.tachyon.json" >&2; failures=$((failures + 1)); }
  sleep "${SETTLE[$name]:-0}"

  aw="-" arc="-"
  if ((ANSIBLE)); then
    t0=$(now)
    set +e
    ansible-playbook -i "$SEED/inventory.ini" -c local "$SEED/$name.yml" -e "seed_bin=$SEED/bin" \
      -e "out_dir=$WORK/out-ansible" >"$WORK/logs/$name.ansible.log" 2>&1
    arc=$?
    set -e
    t1=$(now)
    aw=$(elapsed "$t0" "$t1")
    echo "   ansible: ${aw} s (exit $arc)"
    [[ $arc == "$awant" ]] || { echo "   ansible-playbook exited $arc, expected $awant: $WORK/logs/$name.ansible.log" >&2; failures=$((failures + 1)); }
    sleep "${SETTLE[$name]:-0}"
  fi
  rows+=("$name $jobs $tw $trc $aw $arc $want $awant")
done

table() {
  echo "| pattern | jobs take | tachyon | ansible | ratio | tachyon overhead |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: |"
  for r in "${rows[@]}"; do
    read -r name jobs tw trc aw arc want awant <<<"$r"
    awk -v n="$name" -v j="$jobs" -v t="$tw" -v tr="$trc" -v a="$aw" -v ar="$arc" -v w="$want" -v aw="$awant" 'BEGIN {
      o = t - j
      mark = (tr != w) ? "(run failed)" : (o <= 0.3) ? "ok" : "MISSED"
      ts = sprintf("%.2f s", t); if (tr != 0) ts = ts " (exit " tr (tr != w ? "!" : "") ")"
      if (a == "-") { as = "-"; ratio = "-" }
      else { as = sprintf("%.2f s", a); if (ar != 0) as = as " (exit " ar (ar != aw ? "!" : "") ")"
             ratio = (ar == aw && tr == w && aw == w) ? sprintf("%.1fx", a / t) : "-" }
      printf "| %s | %.2f s | %s | %s | %s | %+.2f s %s |\n", n, j, ts, as, ratio, o, mark
    }'
  done
}

echo
table | tee "$WORK/table.md"

if [[ -n $RESULTS ]]; then
  if [[ -n ${TACHYON_COMMIT:-} ]]; then
    commit=$TACHYON_COMMIT  # the binaries in BUILD_DIR were built from another tree
  else
    commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
    git -C "$ROOT" diff --quiet HEAD -- controller agent common proto 2>/dev/null ||
      commit="$commit (+ uncommitted changes in the tree)"
  fi
  {
    echo "# Seed benchmark results"
    echo
    echo "Generated by \`$CMDLINE\` on $(date -u '+%Y-%m-%d %H:%M UTC')."
    echo
    echo "## Machine"
    echo
    echo "- CPUs (nproc): $(nproc); memory: $(free -h | awk '/^Mem:/ {print $2}'); kernel: $(uname -r)"
    echo "- load average when the benchmark ended: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- $(ansible --version 2>/dev/null | head -1) ($(python3 --version 2>&1))"
    echo "- tachyon commit: $commit"
    echo
    echo "## Results"
    echo
    echo "Each pattern ran once with \`tachyon run bench/seed/P.yml -i bench/seed/inventory.ini -e seed_bin=... -e out_dir=... -o json\`"
    echo "(a controller and four agents on 127.0.0.1) and once with \`ansible-playbook -c local\` on the same files;"
    echo "wall time is measured around each command."
    echo "\"jobs take\" is the critical path of the stand-in scripts' fixed sleeps (see each playbook's header);"
    echo "\"overhead\" is tachyon's wall time minus it (goal: at most 0.3 s); \"ratio\" is ansible / tachyon."
    echo
    cat "$WORK/table.md"
    echo
    echo "Why tachyon misses the 0.3 s goal where it does, and the patterns that fail: bench/README.md."
  } >"$RESULTS"
  echo "wrote $RESULTS"
fi
((failures == 0)) || { echo "bench/run.sh: $failures run(s) ended with an unexpected exit code" >&2; exit 1; }
