#!/usr/bin/env bash
# Event latency (bench/bench.sh runs it; see bench/README.md).
#
# One agent runs 1,000 `command: /bin/true` jobs one after the other (a loop in
# bench/latency/loop.yml; 50 with --smoke) while a subscriber, `tachyon events -f -o json` read by
# bench/latency/reader.py, stamps every line on arrival. Latency = arrival - the job's exit on the
# agent (the `end` of the job_finished event's result: the agent's shim reads the wall clock when
# the child has exited). Agent, controller and CLI share this machine's clock. Reports p50, p99 and
# max, and splits them into exit -> stored (the event's `ts`, the controller's commit) and
# stored -> CLI. Ansible has no event stream: its column is "-".
#
#   options: --smoke --no-ansible --no-ssh --rows FILE --notes FILE (bench/lib.sh); env BUILD_DIR
SCRIPT=latency
source "$(dirname "$0")/lib.sh"
bench_init "$@"

if ((SMOKE)); then JOBS=50; else JOBS=1000; fi

log "controller and one agent in $WORK"
start_controller
start_agents 1
inventory "$WORK/inv-t.ini" 1 tachyon
python3 "$BENCH_DIR/latency/reader.py" "$T" "$WORK/ready" "$JOBS" 30 >"$WORK/latency.json" &
READER=$!
PIDS+=("$READER")
wait_for_line "$WORK/ready" ready
log "$JOBS jobs"
timed_into wall loop "$T" run "$BENCH_DIR/latency/loop.yml" -i "$WORK/inv-t.ini" -e "jobs=$JOBS" -o json
((LAST_RC == 0)) || { log "the loop playbook failed"; exit 1; }
wait "$READER"
summary=$(cat "$WORK/latency.json")
log "$summary (loop wall time $wall s)"
get() { python3 -c 'import json, sys; d = json.loads(sys.argv[1]); v = d[sys.argv[2]][sys.argv[3]] if len(sys.argv) > 3 else d[sys.argv[2]]; print("-" if v is None else v)' "$summary" "$@"; }
n=$(get n)
p50=$(get total p50) p99=$(get total p99) max=$(get total max)
ok=$(awk -v p="$p99" -v n="$n" -v j="$JOBS" 'BEGIN { print (n == j && p != "-" && p < 0.005) ? "yes" : "no" }')
row "event latency p50 (job exit → CLI subscriber, $n jobs)" "$(fmt_ms "$p50")" "-" - - -
row "event latency p99 (job exit → CLI subscriber, $n jobs)" "$(fmt_ms "$p99")" "-" - "< 5 ms" "$ok"
note "### Event latency ($n of $JOBS jobs seen, one after the other on one agent)"
note
note "| | p50 | p99 | max |"
note "| --- | ---: | ---: | ---: |"
note "| job exit → CLI subscriber | $(fmt_ms "$p50") | $(fmt_ms "$p99") | $(fmt_ms "$max") |"
note "| job exit → stored (event ts) | $(fmt_ms "$(get stored p50)") | $(fmt_ms "$(get stored p99)") | $(fmt_ms "$(get stored max)") |"
note "| stored → CLI subscriber | $(fmt_ms "$(get delivered p50)") | $(fmt_ms "$(get delivered p99)") | $(fmt_ms "$(get delivered max)") |"
note
note "Commands: \`tachyon events -f -o json\` (read by bench/latency/reader.py) while"
note "\`tachyon run bench/latency/loop.yml -i INV -e jobs=$JOBS -o json\` ran ($(fmt_s "$wall") for $JOBS jobs)."
note "Ansible has no event stream; the nearest equivalent is its async poll interval (\`poll\`, or"
note "\`delay\` in an async_status loop), the structural latency of noticing a job's end: see the overhead figures."
note
