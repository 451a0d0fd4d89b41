# Shared by the figure scripts of bench/bench.sh (fanout.sh, overhead.sh, latency.sh); sourced,
# not run. Starts a fresh PKI, a controller and N agents on 127.0.0.1 the way bench/run.sh does,
# times commands, and appends result rows and notes for bench.sh to print.
#
# A figure script sets SCRIPT (its name) and calls bench_init "$@", which parses the options every
# figure script takes:
#   --smoke          small and fast (CI): N = 10, one iteration, no long Ansible runs
#   --no-ansible     tachyon only
#   --no-ssh         no Ansible-over-SSH runs
#   --rows FILE      append table rows here: figure|tachyon|ansible|ratio|goal|met
#   --notes FILE     append markdown notes (details, exact commands) here
# and the environment: BUILD_DIR (binaries; default ./build), KEEP=1 (keep the scratch directory).

set -euo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)

SMOKE=0 ANSIBLE=1 SSH=1 ROWS=/dev/null NOTES=/dev/null
bench_init() {
  while (($#)); do
    case $1 in
      --smoke) SMOKE=1 ;;
      --no-ansible) ANSIBLE=0 ;;
      --no-ssh) SSH=0 ;;
      --rows) ROWS=$2; shift ;;
      --notes) NOTES=$2; shift ;;
      -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
      *) echo "$SCRIPT: unknown option $1" >&2; exit 5 ;;
    esac
    shift
  done
  if ((ANSIBLE)) && ! command -v ansible-playbook >/dev/null; then
    echo "$SCRIPT: ansible-playbook is not installed; running tachyon only" >&2
    ANSIBLE=0
  fi
  ((ANSIBLE)) || SSH=0
  BUILD_DIR=${BUILD_DIR:-$ROOT/build}
  T=$BUILD_DIR/controller/cli/tachyon
  CTL=$BUILD_DIR/controller/tachyon-controller
  AGENT=$BUILD_DIR/agent/tachyon-agent
  for b in "$T" "$CTL" "$AGENT"; do
    [[ -x $b ]] || { echo "$SCRIPT: $b is missing (build it, or set BUILD_DIR)" >&2; exit 1; }
  done
  WORK=$(mktemp -d "/tmp/tachyon-$SCRIPT.XXXXXX")
  PIDS=()
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
  # ansible-playbook as a user would run it, minus interpreter discovery warnings and colour, with
  # every file it writes in the scratch directory.
  export ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3 ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 \
    ANSIBLE_LOCALHOST_WARNING=false ANSIBLE_ASYNC_DIR=$WORK/ansible-async \
    ANSIBLE_LOCAL_TEMP=$WORK/ansible-tmp ANSIBLE_REMOTE_TEMP=$WORK/ansible-remote-tmp \
    ANSIBLE_RETRY_FILES_ENABLED=false ANSIBLE_HOST_KEY_CHECKING=False \
    ANSIBLE_SSH_CONTROL_PATH_DIR=$WORK/ansible-cp
}

bench_cleanup() {
  local rc=$?
  local pid
  set +e  # whatever fails here, every process we started is stopped
  [[ -d $WORK/ansible-cp ]] && stop_ssh_masters
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ ${KEEP:-0} == 1 || $rc != 0 ]]; then
    echo "$SCRIPT: scratch directory (logs): $WORK" >&2
  else
    rm -rf "$WORK"
  fi
  return "$rc"
}

log() { echo "[$SCRIPT] $*" >&2; }
now() { date +%s.%N; }
# Runs a command, discarding its output into $WORK/logs/LABEL; prints its wall time in seconds.
# Sets LAST_RC. Usage: t=$(timed LABEL cmd...) can not set LAST_RC, so use: timed_into VAR LABEL cmd...
timed_into() {
  local __var=$1 label=$2
  shift 2
  mkdir -p "$WORK/logs"
  local t0 t1
  t0=$(now)
  set +e
  "$@" >"$WORK/logs/$label" 2>&1
  LAST_RC=$?
  set -e
  t1=$(now)
  printf -v "$__var" '%s' "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }')"
  if ((LAST_RC != 0)); then log "$label exited $LAST_RC (log: $WORK/logs/$label)"; fi
}
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.4f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
row() { echo "$1|$2|$3|$4|$5|$6" >>"$ROWS"; }
note() { echo "$*" >>"$NOTES"; }
fmt_s() { [[ $1 == - ]] && echo - || awk -v x="$1" 'BEGIN { printf "%.2f s", x }'; }
fmt_ms() { [[ $1 == - ]] && echo - || awk -v x="$1" 'BEGIN { printf "%.1f ms", x * 1000 }'; }
ratio() { [[ $1 == - || $2 == - ]] && echo - || awk -v a="$1" -v t="$2" 'BEGIN { printf "%.0fx", a / t }'; }

wait_for_line() {  # FILE REGEX [SECONDS]: bounded wait on what a daemon says
  local file=$1 regex=$2 deadline=$((SECONDS + ${3:-30}))
  until grep -qE "$regex" "$file" 2>/dev/null; do
    ((SECONDS < deadline)) || { echo "timed out waiting for /$regex/ in $file" >&2; tail -20 "$file" >&2; exit 1; }
    sleep 0.05
  done
}

# Fresh PKI and controller; exports the CLI's TACHYON_* environment. Sets CTL_PID and PORT.
start_controller() {
  "$T" pki init --dir "$WORK/pki" --san 127.0.0.1,localhost >/dev/null
  "$CTL" --listen 127.0.0.1:0 --state-dir "$WORK/controller" --port-file "$WORK/port" \
    --ca "$WORK/pki/ca.crt" --cert "$WORK/pki/controller.crt" --key "$WORK/pki/controller.key" \
    2>"$WORK/controller.log" &
  CTL_PID=$!
  PIDS+=("$CTL_PID")
  wait_for_line "$WORK/controller.log" "listening on"
  PORT=$(cat "$WORK/port")
  export TACHYON_CONTROLLER=127.0.0.1:$PORT TACHYON_CA=$WORK/pki/ca.crt \
    TACHYON_CERT=$WORK/pki/admin.crt TACHYON_KEY=$WORK/pki/admin.key
}

# start_agents N [GROUP_SPEC]: agents h001..hN, each with its own certificate and state directory,
# started in parallel; waits until `tachyon agents -o json` shows all of them connected.
# GROUP_SPEC "10 50 200" puts agent i into group nK for every K >= i (so pattern n50 = h001..h050).
# Sets AGENT_PIDS (index i-1 -> pid of h00i).
host_name() { printf 'h%03d' "$1"; }
start_agents() {
  local n=$1 groups=${2:-} i a k
  AGENT_PIDS=()
  local issuing=()  # (a bare `wait` would also wait for the controller)
  for ((i = 1; i <= n; i++)); do
    "$T" pki issue agent "$(host_name "$i")" --dir "$WORK/pki" >/dev/null &
    issuing+=($!)
    if ((${#issuing[@]} == 16 || i == n)); then wait "${issuing[@]}"; issuing=(); fi
  done
  for ((i = 1; i <= n; i++)); do
    a=$(host_name "$i")
    local gargs=()
    for k in $groups; do ((i <= k)) && gargs+=(--group "n$k"); done
    "$AGENT" --controller "127.0.0.1:$PORT" --state-dir "$WORK/agent-$a" --ca "$WORK/pki/ca.crt" \
      --cert "$WORK/pki/agents/$a.crt" --key "$WORK/pki/agents/$a.key" "${gargs[@]}" ${AGENT_ARGS:-} \
      2>"$WORK/agent-$a.log" &
    PIDS+=($!)
    AGENT_PIDS+=($!)
  done
  local deadline=$((SECONDS + 120)) connected=0
  while :; do
    connected=$("$T" agents -o json 2>/dev/null | grep -c '"state":"connected"' || true)
    ((connected >= n)) && break
    ((SECONDS < deadline)) || { echo "only $connected of $n agents connected after 120 s" >&2; exit 1; }
    sleep 0.2
  done
}

# inventory FILE N MODE: h001..hN; MODE tachyon (names only), local, or ssh (needs SSH_PORT, SSH_KEY).
inventory() {
  local file=$1 n=$2 mode=$3 i a
  {
    echo "[all]"
    for ((i = 1; i <= n; i++)); do
      a=$(host_name "$i")
      case $mode in
        tachyon) echo "$a" ;;
        local) echo "$a ansible_connection=local" ;;
        # Each inventory host gets its own ControlMaster socket: they all point at 127.0.0.1:PORT,
        # and Ansible's default ControlPath (%C: a hash of host, port and user) would otherwise
        # make them share one master connection, which no real fleet does.
        ssh) echo "$a ansible_host=127.0.0.1 ansible_port=$SSH_PORT ansible_user=root ansible_ssh_private_key_file=$SSH_KEY ansible_control_path=$WORK/ansible-cp/$a" ;;
      esac
    done
  } >"$file"
}

# An sshd on 127.0.0.1 on a free port, with its own host key, authorized key and known_hosts, all in
# $WORK/sshd (the system's sshd configuration and ~/.ssh are not touched). Sets SSH_PORT, SSH_KEY.
start_sshd() {
  local d=$WORK/sshd
  mkdir -p "$d" "$WORK/ansible-cp"
  chmod 700 "$d"
  ssh-keygen -q -t ed25519 -N '' -f "$d/host_key" >/dev/null
  ssh-keygen -q -t ed25519 -N '' -f "$d/client_key" >/dev/null
  cp "$d/client_key.pub" "$d/authorized_keys"
  chmod 600 "$d/authorized_keys"
  SSH_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  SSH_KEY=$d/client_key
  cat >"$d/sshd_config" <<EOF
ListenAddress 127.0.0.1
HostKey $d/host_key
PidFile $d/sshd.pid
AuthorizedKeysFile $d/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
# -f 50 opens up to 50 connections at once; sshd's default (10:30:100) would drop some.
MaxStartups 400
MaxSessions 50
LogLevel ERROR
Subsystem sftp /usr/lib/openssh/sftp-server
EOF
  # sshd needs its privilege separation directory (normally made by the service unit).
  [[ -d /run/sshd ]] || mkdir -p /run/sshd
  /usr/sbin/sshd -D -e -f "$d/sshd_config" -p "$SSH_PORT" 2>"$d/sshd.log" &
  SSHD_PID=$!
  PIDS+=("$SSHD_PID")
  local deadline=$((SECONDS + 10))
  until ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile="$d/known_hosts" \
      -i "$SSH_KEY" -p "$SSH_PORT" root@127.0.0.1 true 2>/dev/null; do
    ((SECONDS < deadline)) || { echo "sshd on 127.0.0.1:$SSH_PORT did not accept the key" >&2; cat "$d/sshd.log" >&2; exit 1; }
    sleep 0.1
  done
  export ANSIBLE_SSH_EXTRA_ARGS="-o UserKnownHostsFile=$d/known_hosts"
}

# Ends the ControlPersist master connections Ansible left behind (they would linger for 60 s).
stop_ssh_masters() {
  local s
  for s in "$WORK"/ansible-cp/*; do
    if [[ -S $s ]]; then ssh -o ControlPath="$s" -O exit dummy >/dev/null 2>&1 || true; fi
  done
}
