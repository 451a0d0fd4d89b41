#!/bin/sh
# A stand-in for the seed's /opt/... and /usr/... scripts: job.sh NAME [SECONDS] [RC]
# prints what it does, takes SECONDS (default 0.5) and exits RC (default 0).
echo "$1 started"
sleep "${2:-0.5}"
echo "$1 done"
[ "${3:-0}" = 0 ] || echo "$1 failed with rc $3" >&2
exit "${3:-0}"
