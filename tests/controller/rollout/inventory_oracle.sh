#!/bin/sh
# Differential oracle for the inventory loader: runs `ansible-inventory --list` (ansible-core
# 2.14) on every case under testdata/inventory/ and writes (--update) or compares (--check)
# each case's expected.json, and expected_hosts.json: the hosts of `all` and of every group in
# the order a play uses them (inventory_hosts_oracle.py). inventory_test compares tachyon's
# ToListJson(), Hosts() and GroupHosts() with them.
#
# A case directory holds SOURCE (the inventory path, relative to the case) and optionally
# PLAYBOOK_DIR (passed as --playbook-dir).
set -eu
mode=${1:---check}
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v ansible-inventory >/dev/null 2>&1; then
  echo "ansible-inventory not installed; skipping" >&2
  exit 77
fi
tmp=$(mktemp -d)
printf "[defaults]\n" >"$tmp/ansible.cfg"
trap 'rm -rf "$tmp"' EXIT
status=0
for case in "$here"/testdata/inventory/*/; do
  name=$(basename "$case")
  src="$case$(cat "$case/SOURCE")"
  set -- -i "$src" --list
  if [ -f "$case/PLAYBOOK_DIR" ]; then
    set -- "$@" --playbook-dir "$case$(cat "$case/PLAYBOOK_DIR")"
  fi
  # Isolate from any user or system ansible.cfg.
  ANSIBLE_CONFIG="$tmp/ansible.cfg" ANSIBLE_LOCAL_TEMP="$tmp" ANSIBLE_HOME="$tmp" \
    ansible-inventory "$@" >"$tmp/out.json" 2>"$tmp/err.txt" || {
      echo "$name: ansible-inventory failed:" >&2; cat "$tmp/err.txt" >&2; status=1; continue; }
  # A source Ansible could not parse is only a warning to it; here it is a broken case.
  if grep -q "Unable to parse\|Failed to parse" "$tmp/err.txt"; then
    echo "$name: ansible-inventory could not parse the case:" >&2; cat "$tmp/err.txt" >&2
    status=1; continue
  fi
  # Canonical form: sorted keys, 2-space indent.
  python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1])), indent=2, sort_keys=True))' \
    "$tmp/out.json" >"$tmp/canon.json"
  # The host order a play would use for `all` and for each group.
  ANSIBLE_CONFIG="$tmp/ansible.cfg" ANSIBLE_LOCAL_TEMP="$tmp" ANSIBLE_HOME="$tmp" \
    /usr/bin/python3 "$here/inventory_hosts_oracle.py" "$src" >"$tmp/hosts.json" 2>"$tmp/err.txt" || {
      echo "$name: inventory_hosts_oracle.py failed:" >&2; cat "$tmp/err.txt" >&2; status=1; continue; }
  for kind in expected expected_hosts; do
    if [ $kind = expected ]; then got="$tmp/canon.json"; else got="$tmp/hosts.json"; fi
    if [ "$mode" = --update ]; then
      cp "$got" "$case/$kind.json"
    elif ! cmp -s "$got" "$case/$kind.json"; then
      echo "$name: $kind.json is stale (run $0 --update):" >&2
      diff -u "$case/$kind.json" "$got" >&2 || true
      status=1
    fi
  done
done
exit $status
