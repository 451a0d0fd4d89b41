#!/usr/bin/env bash
# Completion overhead (bench/bench.sh runs it; see bench/README.md).
#
# On one host (a real agent for tachyon, ansible_connection=local for Ansible), a 1 s job
# (`command: sleep 1`) run three ways (bench/overhead/):
#   poll1.yml        async: 10, poll: 1
#   poll5.yml        async: 10, poll: 5
#   fire_status.yml  the seed's fire and forget (poll: 0), then async_status until finished,
#                    retries: 5, delay: 60
# tachyon's figure comes from the controller's event log (`tachyon events -o json` after each run,
# bench/overhead/task_time.py): the host_result of the last task minus the task_started of the
# first, minus 1 s: the tasks' wall time without the CLI's start and the playbook's upload. Ansible
# has no event log, so its figure is wall(playbook) - wall(a same-shaped playbook whose tasks are
# `command: /bin/true`: noop1.yml / noop2.yml) - 1 s; tachyon's is computed that way too, for
# comparison (it is noisier: two differences of whole runs). Medians of 5 runs (tachyon) or 3 runs
# (Ansible; 1 run of fire_status, which takes a minute). --smoke: 1 run each, Ansible only poll1.
#
#   options: --smoke --no-ansible --no-ssh --rows FILE --notes FILE (bench/lib.sh); env BUILD_DIR
SCRIPT=overhead
source "$(dirname "$0")/lib.sh"
bench_init "$@"

if ((SMOKE)); then TITER=1 AITER=1; else TITER=5 AITER=3; fi
PB=$BENCH_DIR/overhead

log "controller and one agent in $WORK"
start_controller
start_agents 1
inventory "$WORK/inv-t.ini" 1 tachyon
inventory "$WORK/inv-l.ini" 1 local

# wall_median VAR SIDE PLAYBOOK ITER; for tachyon also sets EV_MED (event-based tasks' wall time)
# and LAG_MED (job exit -> its host_result), medians.
wall_median() {
  local __var=$1 side=$2 pb=$3 iter=$4 i t ts=() evs=() lags=() ev lag
  for ((i = 1; i <= iter; i++)); do
    if [[ $side == tachyon ]]; then
      timed_into t "$side-$pb-$i" "$T" run "$PB/$pb.yml" -i "$WORK/inv-t.ini" -o json
      read -r ev lag < <("$T" events -o json | python3 "$PB/task_time.py")
      evs+=("$ev") lags+=("$lag")
    else
      timed_into t "$side-$pb-$i" ansible-playbook -i "$WORK/inv-l.ini" "$PB/$pb.yml"
    fi
    ((LAST_RC == 0)) || { printf -v "$__var" '%s' -; return; }
    ts+=("$t")
  done
  printf -v "$__var" '%s' "$(echo "${ts[*]}" | median)"
  if [[ $side == tachyon ]]; then
    EV_MED=$(echo "${evs[*]}" | median) LAG_MED=$(echo "${lags[*]}" | median)
    log "$side $pb: wall ${ts[*]} (median ${!__var}); tasks (events) ${evs[*]}; exit->result ${lags[*]}"
  else
    log "$side $pb: wall ${ts[*]} (median ${!__var})"
  fi
}
over() { [[ $1 == - || $2 == - ]] && echo - || awk -v w="$1" -v b="$2" 'BEGIN { printf "%.4f", w - b - 1 }'; }

note "### Completion overhead (a 1 s job)"
note
note "tachyon (events): the tasks' wall time from the controller's event log minus 1 s; exit → result: from the job's exit on the"
note "agent to its host_result. (wall − no-op): whole-run wall time minus a same-shaped no-op playbook's, minus 1 s (both sides)."
note
note "| pattern | tachyon (events) | tachyon exit → result | tachyon wall / no-op | tachyon (wall − no-op) | ansible wall / no-op | ansible (wall − no-op) |"
note "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
wall_median tn1 tachyon noop1 "$TITER"
wall_median tn2 tachyon noop2 "$TITER"
an1=- an2=-
if ((ANSIBLE)); then
  wall_median an1 ansible noop1 "$AITER"
  ((SMOKE)) || wall_median an2 ansible noop2 "$AITER"
fi
for pb in poll1 poll5 fire_status; do
  base_t=$tn1 base_a=$an1 aiter=$AITER label="async 10, poll 1"
  case $pb in
    poll5) label="async 10, poll 5" ;;
    fire_status) base_t=$tn2 base_a=$an2 aiter=1 label="fire and forget + async_status (delay 60)" ;;
  esac
  wall_median tw tachyon "$pb" "$TITER"
  te=$(awk -v e="$EV_MED" 'BEGIN { printf "%.4f", e - 1 }') lag=$LAG_MED
  aw=-
  if ((ANSIBLE)) && { ((!SMOKE)) || [[ $pb == poll1 ]]; }; then wall_median aw ansible "$pb" "$aiter"; fi
  to=$(over "$tw" "$base_t") ao=$(over "$aw" "$base_a")
  ok=$(awk -v o="$te" 'BEGIN { print (o < 0.05) ? "yes" : "no" }')
  r=-
  if [[ $ao != - ]]; then r=$(awk -v a="$ao" -v t="$te" 'BEGIN { if (t <= 0.001 || a <= 0) print "-"; else printf "%.0fx", a / t }'); fi
  row "completion overhead: $label" "$(fmt_ms "$te")" "$(fmt_ms "$ao")" "$r" "< 50 ms" "$ok"
  note "| $label | $(fmt_ms "$te") | $(fmt_ms "$lag") | $(fmt_s "$tw") / $(fmt_s "$base_t") | $(fmt_ms "$to") | $(fmt_s "$aw") / $(fmt_s "$base_a") | $(fmt_ms "$ao") |"
done
note
note "Commands: \`tachyon run bench/overhead/P.yml -i INV -o json\` then \`tachyon events -o json\` (one agent), and"
note "\`ansible-playbook -i INV bench/overhead/P.yml\` (\`ansible_connection=local\`); tachyon: median of $TITER runs,"
note "Ansible: median of $AITER runs (fire_status: one run). The table's ansible column is (wall − no-op); a negative"
note "(wall − no-op) means the difference is within the run-to-run noise."
note
