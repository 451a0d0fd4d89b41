#!/usr/bin/env bash
# Fan-out and footprint (bench/bench.sh runs it; see bench/README.md).
#
# Starts a controller and 200 real agents (10 with --smoke) on 127.0.0.1, then:
#  footprint: controller RSS with 0 agents and with all connected (KiB per agent), idle agent RSS,
#             and wakeups (context switches, all threads) per minute of the idle agents and the
#             controller over 60 s (5 s with --smoke);
#  fan-out:   one `command: /bin/true` task (bench/fanout/true.yml) on N = 10, 50, 200 hosts with
#             -f 50: `tachyon run` (median of 3 runs; also `tachyon exec nN -a /bin/true -f 50`),
#             and ansible-playbook once with ansible_connection=local and once over SSH to an sshd
#             this script starts on 127.0.0.1.
#
#   options: --smoke --no-ansible --no-ssh --rows FILE --notes FILE (bench/lib.sh); env BUILD_DIR
SCRIPT=fanout
source "$(dirname "$0")/lib.sh"
bench_init "$@"

if ((SMOKE)); then SIZES=(10) ITER=1 IDLE=5; else SIZES=(10 50 200) ITER=3 IDLE=60; fi
NMAX=${SIZES[-1]}
PLAYBOOK=$BENCH_DIR/fanout/true.yml

# Every agent's job engine holds an inotify instance, and all the agents run as one user here:
# the kernel's per-user limit (fs.inotify.max_user_instances, 128 by default) would stop the agents
# past it ("inotify_init1: Too many open files"). Raise it for the run when we may, and put it back.
INOTIFY=/proc/sys/fs/inotify/max_user_instances inotify_note=""
inotify_was=$(cat "$INOTIFY")
inotify_need=$((NMAX * 2 + 128))  # room for others' processes (and the other figures) too
if ((NMAX > 32 && inotify_was < inotify_need)); then
  if echo "$inotify_need" 2>/dev/null >"$INOTIFY"; then
    log "raised fs.inotify.max_user_instances from $inotify_was to $inotify_need for the run"
    inotify_note="- fs.inotify.max_user_instances was raised from $inotify_was to $inotify_need for the run (each agent's job engine holds one inotify instance, and all $NMAX agents run as one user here; at 128 the agents past it fail with \"inotify_init1: Too many open files\"); it was put back afterwards."
    # Put it back only once every agent is gone.
    restore_inotify() { if [[ $(cat "$INOTIFY") == "$inotify_need" ]]; then echo "$inotify_was" >"$INOTIFY" || true; fi; }
    trap 'bench_cleanup; rc=$?; restore_inotify; exit $rc' EXIT
  else
    log "fs.inotify.max_user_instances is $inotify_was: $NMAX agents of one user need about $inotify_need (sysctl -w fs.inotify.max_user_instances=$inotify_need)"
    exit 1
  fi
fi

log "controller and $NMAX agents in $WORK"
start_controller
sleep 1
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
# Context switches (voluntary + involuntary) of every thread of the given processes.
ctxt() {
  local pid
  for pid in "$@"; do cat /proc/"$pid"/task/*/status 2>/dev/null; done |
    awk '/^(non)?voluntary_ctxt_switches:/ { s += $2 } END { print s + 0 }'
}
ctl_rss0=$(rss_kib "$CTL_PID")
t0=$(now)
start_agents "$NMAX" "${SIZES[*]}"
t1=$(now)
connect_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
log "$NMAX agents connected in $connect_s s (certificates included)"
sleep 5  # let the hellos, facts and welcomes settle
ctl_rssN=$(rss_kib "$CTL_PID")
agent_rss=$(for p in "${AGENT_PIDS[@]}"; do rss_kib "$p"; done | sort -n)
agent_rss_med=$(echo "$agent_rss" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
agent_rss_max=$(echo "$agent_rss" | tail -1)
per_agent_kib=$(awk -v a="$ctl_rss0" -v b="$ctl_rssN" -v n="$NMAX" 'BEGIN { printf "%.0f", (b - a) / n }')
# CPU time (utime + stime, clock ticks) of the given processes.
cpu_ticks() {
  local pid
  for pid in "$@"; do sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null; done | awk '{ s += $12 + $13 } END { print s + 0 }'
}
# Context switches per thread name, summed over the given processes: "name count" lines.
thread_names() {
  local pid t
  for pid in "$@"; do
    for t in /proc/"$pid"/task/*; do
      echo "$(tr ' ' _ <"$t/comm") $(awk '/ctxt_switches:/ { s += $2 } END { print s + 0 }' "$t/status")"
    done
  done | awk '{ s[$1] += $2 } END { for (k in s) print k, s[k] }' | sort
}
threads0=$(thread_names "${AGENT_PIDS[@]}")
a_c0=$(ctxt "${AGENT_PIDS[@]}") c_c0=$(ctxt "$CTL_PID")
a_cpu0=$(cpu_ticks "${AGENT_PIDS[@]}") c_cpu0=$(cpu_ticks "$CTL_PID")
log "idle for $IDLE s (wakeups)"
sleep "$IDLE"
a_c1=$(ctxt "${AGENT_PIDS[@]}") c_c1=$(ctxt "$CTL_PID")
a_cpu1=$(cpu_ticks "${AGENT_PIDS[@]}") c_cpu1=$(cpu_ticks "$CTL_PID")
threads1=$(thread_names "${AGENT_PIDS[@]}")
hz=$(getconf CLK_TCK)
agent_cpu=$(awk -v a="$a_cpu0" -v b="$a_cpu1" -v n="$NMAX" -v s="$IDLE" -v hz="$hz" 'BEGIN { printf "%.1f", (b - a) / hz * 1000 / n * 60 / s }')
ctl_cpu=$(awk -v a="$c_cpu0" -v b="$c_cpu1" -v s="$IDLE" -v hz="$hz" 'BEGIN { printf "%.1f", (b - a) / hz * 1000 * 60 / s }')
by_thread=$(join <(echo "$threads0") <(echo "$threads1") | awk -v n="$NMAX" -v s="$IDLE" '{ d = ($3 - $2) / n * 60 / s; if (d > 0) { printf "%s%s %.0f", sep, $1, d; sep = ", " } }')
agent_wpm=$(awk -v a="$a_c0" -v b="$a_c1" -v n="$NMAX" -v s="$IDLE" 'BEGIN { printf "%.1f", (b - a) / n * 60 / s }')
ctl_wpm=$(awk -v a="$c_c0" -v b="$c_c1" -v s="$IDLE" 'BEGIN { printf "%.1f", (b - a) * 60 / s }')
agent_threads=$(ls /proc/"${AGENT_PIDS[0]}"/task | wc -l)
log "controller RSS ${ctl_rss0} KiB -> ${ctl_rssN} KiB ($per_agent_kib KiB/agent); agent RSS median ${agent_rss_med} KiB, max ${agent_rss_max}; wakeups/min: agent $agent_wpm, controller $ctl_wpm"

met() { awk -v v="$1" -v g="$2" 'BEGIN { print (v + 0 < g + 0) ? "yes" : "no" }'; }
row "idle agent RSS (median of $NMAX)" "$(awk -v k="$agent_rss_med" 'BEGIN { printf "%.1f MiB", k / 1024 }')" - - "< 16 MiB" \
  "$(met "$agent_rss_med" 16384)"
row "idle agent wakeups/min (mean of $NMAX, ${IDLE} s)" "$agent_wpm" - - "no busy wakeups" \
  "$(awk -v w="$agent_wpm" 'BEGIN { print (w < 60) ? "yes" : "no" }')"
row "controller RSS per connected agent ($NMAX agents)" "$per_agent_kib KiB" - - "< 100 KiB" "$(met "$per_agent_kib" 100)"
note "### Footprint ($NMAX real agents)"
note
note "- controller RSS (VmRSS) with 0 agents: $ctl_rss0 KiB; with $NMAX connected and idle: $ctl_rssN KiB → $per_agent_kib KiB per agent."
note "- idle agent RSS: median $agent_rss_med KiB, max $agent_rss_max KiB ($agent_threads threads per agent); of the first agent: $(grep -E '^Rss(Anon|File|Shmem):' /proc/"${AGENT_PIDS[0]}"/status | awk '{ printf "%s%s %s KiB", sep, $1, $2; sep = ", " }') (RssFile is mostly shared libraries, shared between agents on one host); its PSS (smaps_rollup, the libraries' pages divided among the $NMAX agents mapping them): $(awk '/^Pss:/ { print $2 }' /proc/"${AGENT_PIDS[0]}"/smaps_rollup) KiB."
note "- wakeups over $IDLE s idle (voluntary + involuntary context switches summed over /proc/PID/task/*/status): $agent_wpm per agent per minute; controller: $ctl_wpm per minute."
note "- the agents' wakeups per thread name (per agent per minute): $by_thread."
note "- CPU time while idle: $agent_cpu ms per agent per minute; controller: $ctl_cpu ms per minute."
[[ -n $inotify_note ]] && note "$inotify_note"
note "- $NMAX agents (certificates issued in parallel, agents started in parallel) were all connected after $connect_s s."
note

# ---- fan-out
if ((SSH)); then
  start_sshd
  log "sshd on 127.0.0.1:$SSH_PORT (pid $SSHD_PID)"
fi
note "### Fan-out (one \`command: /bin/true\` task, -f 50)"
note
note "| N | tachyon run (median of $ITER) | tachyon exec | ansible -c local | ansible ssh | local/tachyon | ssh/tachyon |"
note "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for n in "${SIZES[@]}"; do
  inventory "$WORK/inv-t-$n.ini" "$n" tachyon
  runs=() execs=()
  for ((i = 1; i <= ITER; i++)); do
    timed_into t "run-$n-$i" "$T" run "$PLAYBOOK" -i "$WORK/inv-t-$n.ini" -f 50 -o json
    ((LAST_RC == 0)) || { log "tachyon run failed on N=$n"; exit 1; }
    runs+=("$t")
    timed_into t "exec-$n-$i" "$T" exec "n$n" -a /bin/true -f 50 -o json
    ((LAST_RC == 0)) || { log "tachyon exec failed on N=$n"; exit 1; }
    execs+=("$t")
  done
  tr_med=$(echo "${runs[*]}" | median) te_med=$(echo "${execs[*]}" | median)
  log "N=$n tachyon run ${runs[*]} (median $tr_med); exec ${execs[*]} (median $te_med)"
  al=- as=-
  if ((ANSIBLE)); then
    inventory "$WORK/inv-l-$n.ini" "$n" local
    timed_into al "ansible-local-$n" ansible-playbook -i "$WORK/inv-l-$n.ini" -f 50 "$PLAYBOOK"
    ((LAST_RC == 0)) || al=-
    log "N=$n ansible local $al s"
  fi
  if ((SSH)); then
    inventory "$WORK/inv-s-$n.ini" "$n" ssh
    timed_into as "ansible-ssh-$n" ansible-playbook -i "$WORK/inv-s-$n.ini" -f 50 "$PLAYBOOK"
    ((LAST_RC == 0)) || as=-
    stop_ssh_masters
    log "N=$n ansible ssh $as s"
  fi
  goal=- ok=-
  case $n in
    50) goal="≥ 50x vs local" ;;
    200) goal="≥ 100x vs local" ;;
  esac
  if [[ $goal != - && $al != - ]]; then
    ok=$(awk -v a="$al" -v t="$tr_med" -v g="${goal//[^0-9]/}" 'BEGIN { print (a / t >= g) ? "yes" : "no" }')
  fi
  row "fan-out N=$n, ansible -c local" "$(fmt_s "$tr_med")" "$(fmt_s "$al")" "$(ratio "$al" "$tr_med")" "$goal" "$ok"
  ((SSH)) && row "fan-out N=$n, ansible ssh" "$(fmt_s "$tr_med")" "$(fmt_s "$as")" "$(ratio "$as" "$tr_med")" - -
  note "| $n | $(fmt_s "$tr_med") ($(for r in "${runs[@]}"; do printf '%.2f ' "$r"; done| sed 's/ $//')) | $(fmt_s "$te_med") | $(fmt_s "$al") | $(fmt_s "$as") | $(ratio "$al" "$tr_med") | $(ratio "$as" "$tr_med") |"
done
note
note "Commands: \`tachyon run bench/fanout/true.yml -i INV -f 50 -o json\` (INV: h001..hN, one real agent each);"
note "\`tachyon exec nN -a /bin/true -f 50 -o json\` (group nN = h001..hN);"
note "\`ansible-playbook -i INV -f 50 bench/fanout/true.yml\` with \`ansible_connection=local\` per host, or"
note "\`ansible_host=127.0.0.1 ansible_port=PORT ansible_user=root\` to an sshd started for the run (own host key,"
note "AuthorizedKeysFile and known_hosts in a temp dir; ControlMaster=auto, ControlPersist=60s and pipelining off"
note "are Ansible's defaults and are kept; each host has its own ControlPath, as distinct real hosts would)."
note "Wall time around each command; the tachyon figure includes the CLI's start, mTLS handshake and upload."
note
