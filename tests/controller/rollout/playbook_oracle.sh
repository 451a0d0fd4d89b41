#!/bin/sh
# The seed playbooks under testdata/playbooks/seed are real Ansible: `ansible-playbook
# --syntax-check` (ansible-core 2.14) accepts each of them, so playbook_test loading them
# proves tachyon accepts what Ansible accepts; and it rejects every playbook under
# testdata/playbooks/invalid with the message that invalid/EXPECTED (and playbook_test)
# requires of tachyon. Exit 77 (skip) without ansible-core.
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
# And every playbook under invalid/ is rejected, with the message EXPECTED names.
tab=$(printf '\t')
grep -v '^#' "$here/testdata/playbooks/invalid/EXPECTED" | while IFS="$tab" read -r file want; do
  if ANSIBLE_CONFIG="$tmp/ansible.cfg" ANSIBLE_HOME="$tmp" ANSIBLE_LOCAL_TEMP="$tmp" \
      ansible-playbook --syntax-check -i localhost, "$here/testdata/playbooks/invalid/$file" \
      >"$tmp/out.txt" 2>&1; then
    echo "$file: accepted by ansible-playbook, expected an error" >&2
    echo fail >"$tmp/failed"
  elif [ -n "$want" ] && ! grep -qF -- "$want" "$tmp/out.txt"; then
    echo "$file: ansible-playbook's error lacks '$want':" >&2
    cat "$tmp/out.txt" >&2
    echo fail >"$tmp/failed"
  fi
done
[ -f "$tmp/failed" ] && status=1
exit $status
