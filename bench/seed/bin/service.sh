#!/bin/sh
# Stand-in for the seed's ansible.builtin.service: takes 1 s.
sleep 1
echo "service.sh done${1:+ ($*)}"
