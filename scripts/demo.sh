#!/usr/bin/env bash
# The demo: builds tachyon, makes a PKI in a scratch directory, starts a controller and three
# local agents (web01, web02, db01), streams the event log live while it runs ad-hoc async jobs
# across them, then runs a zero-downtime rolling deploy (examples/rolling-deploy) with
# `tachyon run`, lists the rollouts, and stops everything it started.
#   SKIP_DEPS=1   don't check for (or install) Debian packages
#   BUILD_DIR=D   build in (and run from) D instead of ./build
#   SKIP_BUILD=1  use the binaries in BUILD_DIR as they are
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
[[ ${SKIP_DEPS:-0} == 1 ]] || scripts/deps.sh
BIN=${BUILD_DIR:-$ROOT/build}
if [[ ${SKIP_BUILD:-0} != 1 ]]; then
  echo "== building (first time: several minutes; ccache makes it quick afterwards)"
  TARGETS="tachyon tachyon-controller tachyon-agent" scripts/build.sh "$BIN" >/dev/null
fi

T=$BIN/controller/cli/tachyon
WORK=$(mktemp -d /tmp/tachyon-demo.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# Waits (bounded) until FILE has a line matching REGEX: we wait on what the daemons say,
# never on a fixed sleep.
wait_for_line() {
  local file=$1 regex=$2 deadline=$((SECONDS + 30))
  until grep -qE "$regex" "$file" 2>/dev/null; do
    ((SECONDS < deadline)) || { echo "timed out waiting for /$regex/ in $file" >&2; cat "$file" >&2; exit 1; }
    sleep 0.05
  done
}

say "PKI: a CA, the controller's certificate, an operator (admin) and three agents"
$T pki init --dir "$WORK/pki" --san 127.0.0.1,localhost
for a in web01 web02 db01; do $T pki issue agent $a --dir "$WORK/pki"; done

say "controller on 127.0.0.1 (mTLS only; a free port)"
$BIN/controller/tachyon-controller --listen 127.0.0.1:0 --state-dir "$WORK/controller" \
  --ca "$WORK/pki/ca.crt" --cert "$WORK/pki/controller.crt" --key "$WORK/pki/controller.key" \
  --port-file "$WORK/port" 2>"$WORK/controller.log" &
PIDS+=($!)
wait_for_line "$WORK/controller.log" "listening on"
PORT=$(cat "$WORK/port")
echo "controller listening on 127.0.0.1:$PORT"

export TACHYON_CONTROLLER=127.0.0.1:$PORT TACHYON_CA=$WORK/pki/ca.crt \
  TACHYON_CERT=$WORK/pki/admin.crt TACHYON_KEY=$WORK/pki/admin.key

say "live event stream (tachyon events -f) — lines prefixed with 'event |'"
$T events -f > >(sed -u 's/^/  event | /') &
EVENTS_PID=$!
PIDS+=($EVENTS_PID)

say "three agents dial out to the controller"
for a in web01 web02 db01; do
  group=web; [[ $a == db01 ]] && group=db
  $BIN/agent/tachyon-agent --controller 127.0.0.1:$PORT --state-dir "$WORK/agent-$a" \
    --ca "$WORK/pki/ca.crt" --cert "$WORK/pki/agents/$a.crt" --key "$WORK/pki/agents/$a.key" \
    --group $group 2>"$WORK/agent-$a.log" &
  PIDS+=($!)
done
for a in web01 web02 db01; do wait_for_line "$WORK/controller.log" "agent '$a' connected"; done
$T agents

say "tachyon exec all -B 30 -- sh -c 'sleep 1; uname -n'   (async, completion pushed)"
start=$(date +%s%N)
$T exec all -B 30 -- sh -c 'sleep 1; echo "done on $(uname -n)"' || true
echo "wall time: $(( ($(date +%s%N) - start) / 1000000 )) ms for a 1 s job on 3 hosts (no poll interval)"

say "fire and forget (-P 0), then job status"
JIDS=$($T exec web -B 60 -P 0 -o json -- sleep 2 | python3 -c 'import json,sys; print(" ".join(json.loads(l)["ansible_job_id"] for l in sys.stdin))')
for j in $JIDS; do $T job status "$j" -o json; done

say "a job that overruns its timeout is killed with its whole process group"
$T exec db01 -B 1 -- sh -c 'sleep 30 & sleep 30' || echo "(exit $? = a host failed, as ansible)"

say "kill a running job"
J=$($T exec db01 -B 300 -P 0 -o json -- sleep 300 | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["ansible_job_id"])')
$T job kill "$J" -o json
$T job cleanup "$J"

say "the last events, as JSON lines (tachyon events -o json --since N)"
$T events -o json | tail -n 3

# The playbook part: the event stream would interleave with the playbook's own output.
kill "$EVENTS_PID" 2>/dev/null || true
wait "$EVENTS_PID" 2>/dev/null || true

say "a zero-downtime rolling deploy: tachyon run examples/rolling-deploy/site.yml"
echo "(serial: 1 — drain from the load balancer, deploy, async restart, async_status until up,"
echo " health check, back into the load balancer; the scripts keep their state in $WORK/rolling-deploy)"
mkdir -p "$WORK/rolling-deploy"
start=$(date +%s%N)
$T run examples/rolling-deploy/site.yml -i examples/rolling-deploy/inventory.ini \
  -e demo_dir="$WORK/rolling-deploy" || echo "(tachyon run exited $?)"
echo "wall time: $(( ($(date +%s%N) - start) / 1000000 )) ms"
echo "load balancer state: $(cat "$WORK/rolling-deploy/lb/backends" | paste -sd ' ' -)"

say "tachyon rollout ls   (rollouts live in the controller; 'rollout show ID' / 'rollout watch ID')"
$T rollout ls

say "demo finished; stopping the controller and agents"
