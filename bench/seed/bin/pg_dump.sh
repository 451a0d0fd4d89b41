#!/bin/sh
# Stand-in for the seed's pg_dump: takes 2 s.
sleep 2
echo "pg_dump.sh done${1:+ ($*)}"
