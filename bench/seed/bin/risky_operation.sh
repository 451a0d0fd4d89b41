#!/bin/sh
# Stand-in for the seed's /opt/risky_operation.sh (it always fails, so the failure path runs): takes 3 s.
sleep 3
echo "risky operation failed" >&2; exit 1
