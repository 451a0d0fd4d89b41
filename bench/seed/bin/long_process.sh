#!/bin/sh
# Stand-in for the seed's /usr/bin/long_process.sh, /opt/scripts/long_process.sh: takes 5 s.
sleep 5
echo "long_process.sh done${1:+ ($*)}"
