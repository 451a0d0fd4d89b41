#!/bin/sh
# Stand-in for the seed's /opt/update_backend.sh: takes 5 s.
sleep 5
echo "update_backend.sh done${1:+ ($*)}"
