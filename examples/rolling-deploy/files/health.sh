#!/usr/bin/env bash
# A stand-in health endpoint: healthy when the service runs the expected version.
#   health.sh APP_DIR VERSION
app=$1; want=$2
state=$(cat "$app/state" 2>/dev/null || echo missing)
have=$(cat "$app/version" 2>/dev/null || echo none)
if [[ $state == running && $have == "$want" ]]; then
  echo "200 OK: myapp $have"
else
  echo "503: state=$state version=$have (want $want)"
  exit 1
fi
