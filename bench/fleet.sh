#!/usr/bin/env bash
# The fleet benchmark: one controller and one fleet simulator (`tachyon-agent --simulate N`, N
# agent identities in one process, each with its own certificate, TLS connection and stream, jobs
# answered by the no-op engine) on 127.0.0.1, for each fleet size N. It measures, per N:
#   connect    seconds from the simulator's start (identities minted) until all N are connected
#   fan-out    wall time of `tachyon exec 'PREFIX-*' -a /bin/true -f N -o json` (one task on all N)
#   dispatch/s N / (last - first job_dispatched timestamp of that exec), from the event log
#   finish/s   N / (last job_finished - first job_dispatched)
#   events/s   events the controller logged during the exec / the time they span
#   RSS        controller VmRSS idle (no agent), with N connected, after the fan-outs; VmHWM;
#              RSS per agent = (connected - idle) / N
# These are benchmarks, not tests: nothing is asserted about timings. --smoke (CI) checks only
# that all N connect and that each exec exits 0 with N results.
#
#   bench/fleet.sh                      sizes 1000,10000, 3 fan-outs each; prints the table
#   bench/fleet.sh --smoke              N = 10, one fan-out (CI: bench_fleet_smoke)
#   options: --sizes 1000,10000  --iterations K  --results FILE (write a markdown section there)
#            --no-build (use BUILD_DIR as it is)  --concurrency C (identities dialling at once)
#   env: BUILD_DIR (default ./build), KEEP=1 keeps the scratch directory (logs, event logs),
#        TACHYON_COMMIT names the commit the binaries were built from (default: this checkout's HEAD)
# Exit status: 0 when every size connected fully and every exec returned 0 with N results.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CMDLINE="${BUILD_DIR:+BUILD_DIR=$BUILD_DIR }bench/fleet.sh${*:+ $*}"

SIZES=1000,10000 ITER=3 BUILD=1 RESULTS="" SMOKE=0 CONC=256 PREFIX=sim
while (($#)); do
  case $1 in
    --smoke) SMOKE=1 SIZES=10 ITER=1 ;;
    --sizes) SIZES=$2; shift ;;
    --iterations) ITER=$2; shift ;;
    --results) RESULTS=$2; shift ;;
    --no-build) BUILD=0 ;;
    --concurrency) CONC=$2; shift ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "bench/fleet.sh: unknown option $1" >&2; exit 5 ;;
  esac
  shift
done

BUILD_DIR=${BUILD_DIR:-$ROOT/build}
if ((BUILD)); then
  echo "== building tachyon in $BUILD_DIR (quick when it is up to date)"
  TARGETS="tachyon tachyon-controller tachyon-agent" scripts/build.sh "$BUILD_DIR" >/dev/null
fi
T=$BUILD_DIR/controller/cli/tachyon
CTL=$BUILD_DIR/controller/tachyon-controller
AGENT=$BUILD_DIR/agent/tachyon-agent
for b in "$T" "$CTL" "$AGENT"; do
  [[ -x $b ]] || { echo "bench/fleet.sh: $b is missing (build it, or set BUILD_DIR)" >&2; exit 1; }
done
command -v python3 >/dev/null || { echo "bench/fleet.sh: python3 is needed to read the event log" >&2; exit 1; }

WORK=$(mktemp -d /tmp/tachyon-fleet.XXXXXX)
PIDS=()
cleanup() {
  local rc=$?
  stop_all
  if [[ ${KEEP:-0} == 1 || $rc != 0 ]]; then
    echo "scratch directory (logs): $WORK" >&2
  else
    rm -rf "$WORK"
  fi
}
stop_all() {  # only what this script started
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  PIDS=()
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
kib() { awk -v k="$2" '$1 == k":" { print $2 }' "/proc/$1/status"; }  # PID FIELD -> KiB
wait_for_line() {  # FILE REGEX SECONDS
  local file=$1 regex=$2 deadline=$((SECONDS + $3))
  until grep -qE "$regex" "$file" 2>/dev/null; do
    ((SECONDS < deadline)) || { echo "timed out waiting for /$regex/ in $file" >&2; tail -20 "$file" >&2; exit 1; }
    sleep 0.05
  done
}
connected_count() {  # distinct identities the controller has logged as connected
  grep -o "agent '$PREFIX-[0-9]*' connected" "$1" 2>/dev/null | sort -u | wc -l
}

"$T" pki init --dir "$WORK/pki" --san 127.0.0.1,localhost >/dev/null
export TACHYON_CA=$WORK/pki/ca.crt TACHYON_CERT=$WORK/pki/admin.crt TACHYON_KEY=$WORK/pki/admin.key

rows=() failures=0
IFS=, read -r -a sizes <<<"$SIZES"
for N in "${sizes[@]}"; do
  D=$WORK/n$N
  mkdir -p "$D"
  echo "== N = $N: controller and simulator on 127.0.0.1 (scratch: $D)"
  "$CTL" --listen 127.0.0.1:0 --state-dir "$D/controller" --port-file "$D/port" \
    --ca "$WORK/pki/ca.crt" --cert "$WORK/pki/controller.crt" --key "$WORK/pki/controller.key" \
    2>"$D/controller.log" &
  CPID=$!
  PIDS+=("$CPID")
  wait_for_line "$D/controller.log" "listening on" 30
  export TACHYON_CONTROLLER=127.0.0.1:$(cat "$D/port")
  sleep 1
  rss_idle=$(kib "$CPID" VmRSS) load_idle=$(loadavg)

  "$AGENT" --simulate "$N" --simulate-prefix "$PREFIX" --simulate-ca-dir "$WORK/pki" \
    --simulate-connect-concurrency "$CONC" --controller "$TACHYON_CONTROLLER" \
    2>"$D/simulator.log" &
  SPID=$!
  PIDS+=("$SPID")
  wait_for_line "$D/simulator.log" "simulator started" $((60 + N / 10))
  t0=$(now)
  deadline=$((SECONDS + 120 + N / 20))
  until (($(connected_count "$D/controller.log") >= N)); do
    if ((SECONDS >= deadline)); then
      echo "   only $(connected_count "$D/controller.log") of $N connected after $((120 + N / 20)) s" >&2
      failures=$((failures + 1))
      break
    fi
    sleep 0.2
  done
  t1=$(now)
  connect=$(elapsed "$t0" "$t1")
  ncon=$(connected_count "$D/controller.log")
  load_con=$(loadavg)
  echo "   $ncon of $N connected in ${connect} s (load $load_con)"
  sleep 2
  rss_con=$(kib "$CPID" VmRSS)
  hwm_con=$(kib "$CPID" VmHWM)
  sim_rss=$(kib "$SPID" VmRSS)

  fan=() disp=() fin=() evr=() loads=()
  for ((i = 1; i <= ITER; i++)); do
    since=$("$T" events -o json | tail -1 | python3 -c 'import json,sys; l=sys.stdin.read().strip(); print(json.loads(l)["seq"] if l else 0)')
    load_before=$(loadavg)
    t0=$(now)
    set +e
    "$T" exec "$PREFIX-*" -a /bin/true -f "$N" -o json >"$D/exec-$i.json" 2>"$D/exec-$i.err"
    rc=$?
    set -e
    t1=$(now)
    results=$(grep -c '"status"' "$D/exec-$i.json" || true)
    f=$(elapsed "$t0" "$t1")
    "$T" events -o json --since "$since" >"$D/events-$i.json"
    read -r dps fps eps < <(python3 - "$D/events-$i.json" <<'EOF'
import json, sys
from datetime import datetime
def ts(e): return datetime.strptime(e["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()
ev = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
d = sorted(ts(e) for e in ev if e["type"] == "job_dispatched")
f = sorted(ts(e) for e in ev if e["type"] == "job_finished")
job = [ts(e) for e in ev if e["type"].startswith("job_")]
rate = lambda n, a, b: "%.0f" % (n / (b - a)) if n and b > a else "-"
print(rate(len(d), d[0], d[-1]) if d else "-",
      rate(len(f), d[0], f[-1]) if d and f else "-",
      rate(len(job), min(job), max(job)) if job else "-")
EOF
)
    echo "   fan-out $i: ${f} s, exit $rc, $results results; dispatch ${dps}/s, finish ${fps}/s, events ${eps}/s (load $load_before)"
    if [[ $rc != 0 || $results != "$N" ]]; then
      echo "   exec $i returned $rc with $results results (want 0 and $N): $D/exec-$i.err" >&2
      head -5 "$D/exec-$i.err" >&2
      failures=$((failures + 1))
    fi
    fan+=("$f") disp+=("$dps") fin+=("$fps") evr+=("$eps") loads+=("${load_before%% *}")
  done
  rss_after=$(kib "$CPID" VmRSS)
  hwm_after=$(kib "$CPID" VmHWM)
  db=$(du -sk "$D/controller" | cut -f1)
  per=$(awk -v a="$rss_idle" -v b="$rss_con" -v n="$N" 'BEGIN { printf "%.1f", (b - a) / n }')
  join() { local IFS=/; echo "$*"; }
  rows+=("$N|$ncon|$connect|$(join "${fan[@]}")|$(join "${disp[@]}")|$(join "${fin[@]}")|$(join "${evr[@]}")|$((rss_idle / 1024))|$((rss_con / 1024))|$((rss_after / 1024))|$((hwm_after / 1024))|$per|$((sim_rss / 1024))|$((db / 1024))|${load_idle%% *} / ${load_con%% *} / $(join "${loads[@]}")")
  echo "   controller RSS: idle $((rss_idle / 1024)) MiB, connected $((rss_con / 1024)) MiB (HWM $((hwm_con / 1024))), after fan-outs $((rss_after / 1024)) MiB (HWM $((hwm_after / 1024))); ${per} KiB per agent; simulator $((sim_rss / 1024)) MiB"
  stop_all
done

table() {
  echo "| N | connected | connect (s) | fan-out (s) | dispatch/s | finish/s | events/s | ctl RSS idle (MiB) | connected | after fan-out | VmHWM | RSS/agent (KiB) | sim RSS (MiB) | state dir (MiB) | load avg (idle / connected / each fan-out) |"
  echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
  for r in "${rows[@]}"; do echo "| ${r//|/ | } |"; done
}
echo
table | tee "$WORK/table.md"

if [[ -n $RESULTS ]]; then
  if [[ -n ${TACHYON_COMMIT:-} ]]; then
    commit=$TACHYON_COMMIT
  else
    commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
    git -C "$ROOT" diff --quiet HEAD -- controller agent common proto 2>/dev/null ||
      commit="$commit (+ uncommitted changes in the tree)"
  fi
  {
    echo "## Fleet benchmark (\`bench/fleet.sh\`)"
    echo
    echo "Generated by \`$CMDLINE\` on $(date -u '+%Y-%m-%d %H:%M UTC')."
    echo
    echo "- machine: $(nproc) CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), $(free -h | awk '/^Mem:/ {print $2}') memory, kernel $(uname -r)"
    echo "- tachyon $("$T" --version 2>/dev/null | head -1) at commit $commit; gRPC $(dpkg-query -W -f '${Version}' libgrpc++1.51 2>/dev/null || echo '?'), SQLite $(dpkg-query -W -f '${Version}' libsqlite3-0 2>/dev/null || echo '?'), OpenSSL $(dpkg-query -W -f '${Version}' libssl3 2>/dev/null || echo '?')"
    echo "- one controller and one simulator (\`tachyon-agent --simulate N --simulate-connect-concurrency $CONC\`, no-op jobs) on 127.0.0.1;"
    echo "  fan-out: \`tachyon exec '$PREFIX-*' -a /bin/true -f N -o json\`, $ITER time(s) per N (values separated by /)"
    echo
    cat "$WORK/table.md"
  } >"$RESULTS"
  echo "wrote $RESULTS"
fi
((failures == 0)) || { echo "bench/fleet.sh: $failures check(s) failed" >&2; exit 1; }
