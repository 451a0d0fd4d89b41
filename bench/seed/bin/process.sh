#!/bin/sh
# Stand-in for the seed's /opt/process.sh: takes 3 s.
sleep 3
echo "process.sh done${1:+ ($*)}"
