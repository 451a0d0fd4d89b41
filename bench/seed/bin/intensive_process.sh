#!/bin/sh
# Stand-in for the seed's /opt/intensive_process.sh: takes 1 s.
sleep 1
echo "intensive_process.sh done${1:+ ($*)}"
