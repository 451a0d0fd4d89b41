#!/bin/sh
# Stand-in for the seed's ansible.builtin.uri on http://HOST:8080/health (answers 200 at once): takes 0 s.
sleep 0
echo "status 200"
