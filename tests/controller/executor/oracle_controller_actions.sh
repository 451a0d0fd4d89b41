#!/bin/sh
# Regenerates the executor's oracles from ansible-playbook (ansible-core 2.14), local connection:
#   testdata/oracle_controller_actions.json  what localhost registered
#   testdata/oracle_semantics.json           what h1/h2 registered, and the PLAY RECAP
# Exit 77 without ansible-playbook.
set -eu
command -v ansible-playbook >/dev/null 2>&1 || exit 77
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

ORACLE_OUT=$work/actions.json ansible-playbook -i localhost, -c local \
  "$here/testdata/oracle_controller_actions.yml" >/dev/null
mv "$work/actions.json" "$here/testdata/oracle_controller_actions.json"

py=/usr/bin/python3
for h in h1 h2; do
  echo "$h ansible_connection=local counter=$work/c_$h ansible_python_interpreter=$py"
done >"$work/inv"
ORACLE_OUT=$work/out ansible-playbook -i "$work/inv" "$here/testdata/oracle_semantics.yml" \
  >"$work/log"
python3 - "$work" "$here/testdata/oracle_semantics.json" <<'PY'
import json, re, sys
work, dest = sys.argv[1], sys.argv[2]
out = {"registered": {}, "recap": {}}
for h in ("h1", "h2"):
    out["registered"][h] = json.load(open(f"{work}/out.{h}"))
for line in open(f"{work}/log"):
    m = re.match(r"^(h\d)\s+: (.*)$", line.strip())
    if m:
        out["recap"][m.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
json.dump(out, open(dest, "w"), indent=1, sort_keys=True)
PY
