#!/bin/sh
# Stand-in for the seed's ansible.builtin.package: takes 1 s.
sleep 1
echo "package.sh done${1:+ ($*)}"
