#!/bin/sh
# Differential oracle for the playbook loader, against ansible-core 2.14:
# - the seed playbooks and full/site.yml load in Ansible, and testdata/playbooks/oracle/*.json
#   is what Ansible makes of them (playbook_oracle.py: leaf tasks in run order, action, name,
#   args, keywords); --update rewrites those files, --check (the default) compares;
#   playbook_test requires tachyon's model to match them;
# - every playbook under testdata/playbooks/invalid is rejected by
#   `ansible-playbook --syntax-check` with the message invalid/EXPECTED names, which
#   playbook_test requires of tachyon too.
# Exit 77 (skip) without ansible-core.
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
mode=${1:---check}
# What Ansible makes of each valid playbook (playbook_oracle.py), for playbook_test to compare.
mkdir -p "$here/testdata/playbooks/oracle"
for pb in "$here"/testdata/playbooks/seed/*.yml "$here"/testdata/playbooks/full/site.yml \
    "$here"/testdata/playbooks/tricky/site.yml; do
  rel=${pb#"$here"/testdata/playbooks/}
  out="$here/testdata/playbooks/oracle/$(echo "$rel" | tr / _ | sed 's/\.yml$//').json"
  if ! ANSIBLE_CONFIG="$tmp/ansible.cfg" ANSIBLE_HOME="$tmp" ANSIBLE_LOCAL_TEMP="$tmp" \
      /usr/bin/python3 "$here/playbook_oracle.py" "$pb" >"$tmp/model.json" 2>"$tmp/err.txt"; then
    echo "$rel: ansible could not load it:" >&2
    cat "$tmp/err.txt" >&2
    status=1
    continue
  fi
  if [ "$mode" = --update ]; then
    cp "$tmp/model.json" "$out"
  elif ! cmp -s "$tmp/model.json" "$out"; then
    echo "$rel: $out is stale (run $0 --update):" >&2
    diff -u "$out" "$tmp/model.json" >&2 || true
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
