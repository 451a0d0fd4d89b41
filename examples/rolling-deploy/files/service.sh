#!/usr/bin/env bash
# A stand-in for a slow-starting service.
#   service.sh APP_DIR restart VERSION   stop, then "start" VERSION after 0.5-2 s
#   service.sh APP_DIR migrate VERSION   a schema migration that takes 1 s
set -euo pipefail
app=$1; cmd=$2; version=$3
mkdir -p "$app"
case $cmd in
  restart)
    echo stopped >"$app/state"
    ms=$((500 + RANDOM % 1501))
    sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
    echo "$version" >"$app/version.tmp" && mv -f "$app/version.tmp" "$app/version"
    echo running >"$app/state"
    echo "myapp $version started in ${ms} ms"
    ;;
  migrate)
    sleep 1
    echo "$version" >"$app/schema"
    echo "schema migrated to $version"
    ;;
  *) echo "service.sh: unknown command $cmd" >&2; exit 2 ;;
esac
