#!/bin/sh
# Stand-in for the seed's rsync -avz /data/ HOST:/backup/: takes 4 s.
sleep 4
echo "rsync.sh done${1:+ ($*)}"
