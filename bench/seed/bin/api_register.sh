#!/bin/sh
# Stand-in for the seed's ansible.builtin.uri POST https://api.example.com/register (no network in the benchmark): takes 0.25 s.
sleep 0.25
echo "api_register.sh done${1:+ ($*)}"
