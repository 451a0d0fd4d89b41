#!/usr/bin/env bash
# A stand-in load balancer: the set of enabled backends is a state file, one name a line.
#   lb.sh DEMO_DIR init HOST...    every HOST enabled
#   lb.sh DEMO_DIR remove HOST     drain HOST (no new traffic)
#   lb.sh DEMO_DIR add HOST        HOST takes traffic again
#   lb.sh DEMO_DIR status          the enabled backends
set -euo pipefail
dir=$1/lb; cmd=$2; shift 2
state=$dir/backends
mkdir -p "$dir"
touch "$state"
write() {  # atomically replace the state file with stdin
  cat >"$state.tmp.$$" && mv -f "$state.tmp.$$" "$state"
}
case $cmd in
  init)   printf '%s\n' "$@" | write ;;
  remove) grep -vxF "$1" "$state" | write || true
          echo "drained $1" ;;
  add)    { grep -vxF "$1" "$state" || true; echo "$1"; } | sort | write
          echo "enabled $1" ;;
  status) ;;
  *) echo "lb.sh: unknown command $cmd" >&2; exit 2 ;;
esac
echo "backends in service: $(sort "$state" | paste -sd " " -)"
