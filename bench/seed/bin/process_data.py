#!/bin/sh
# Stand-in for the seed's /opt/process_data.py (a shell script despite the name): takes 2 s.
sleep 2
echo "process_data.py done${1:+ ($*)}"
