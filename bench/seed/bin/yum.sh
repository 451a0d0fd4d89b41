#!/bin/sh
# Stand-in for the seed's ansible.builtin.yum: takes 1 s.
sleep 1
echo "yum.sh done${1:+ ($*)}"
