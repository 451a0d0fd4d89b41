#!/bin/sh
# The seed playbooks under testdata/playbooks/seed are real Ansible: `ansible-playbook
# --syntax-check` (ansible-core 2.14) accepts each of them, so playbook_test loading them
# proves tachyon accepts what Ansible accepts. Exit 77 (skip) without ansible-core.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v ansible-playbook >/dev/null 2>&1; then
  echo "ansible-playbook not installed; skipping" >&2
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf "[defaults]\n" >"$tmp/ansible.cfg"
status=0
for pb in "$here"/testdata/playbooks/seed/*.yml; do
  if ! ANSIBLE_CONFIG="$tmp/ansible.cfg" ANSIBLE_HOME="$tmp" ANSIBLE_LOCAL_TEMP="$tmp" \
      ansible-playbook --syntax-check -i localhost, "$pb" >"$tmp/out.txt" 2>&1; then
    echo "$(basename "$pb"): rejected by ansible-playbook --syntax-check:" >&2
    cat "$tmp/out.txt" >&2
    status=1
  fi
done
exit $status
