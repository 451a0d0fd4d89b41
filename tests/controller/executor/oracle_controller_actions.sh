#!/bin/sh
# Regenerates testdata/oracle_controller_actions.json: what ansible-playbook (ansible-core 2.14)
# registers for testdata/oracle_controller_actions.yml on localhost. Exit 77 without ansible.
set -eu
command -v ansible-playbook >/dev/null 2>&1 || exit 77
here=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp)
ORACLE_OUT=$out ansible-playbook -i localhost, -c local "$here/testdata/oracle_controller_actions.yml" >/dev/null
mv "$out" "$here/testdata/oracle_controller_actions.json"
