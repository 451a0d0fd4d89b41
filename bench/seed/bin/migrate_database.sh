#!/bin/sh
# Stand-in for the seed's /opt/migrate_database.sh: takes 3 s.
sleep 3
echo "migrate_database.sh done${1:+ ($*)}"
