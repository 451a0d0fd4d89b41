#!/bin/sh
# Stand-in for the seed's ansible.builtin.wait_for on a port that is already open: takes 0 s.
sleep 0
echo "wait_for.sh done${1:+ ($*)}"
