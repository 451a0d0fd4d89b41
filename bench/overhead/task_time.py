#!/usr/bin/env python3
"""bench/overhead.sh: reads `tachyon events -o json` on stdin and, for the last rollout, prints
  TASKS  = ts of the last host_result - ts of the first task_started (seconds): the tasks' wall time
           as the controller recorded it, without the CLI's start and the playbook's upload
  LAG    = ts of the last host_result - the `end` of its result (the job's exit on the agent)"""
import datetime
import json
import sys


def ts(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def local(s):
    return datetime.datetime.strptime(s, "%Y-%m-%d %H:%M:%S.%f" if "." in s else "%Y-%m-%d %H:%M:%S").timestamp()


events = [json.loads(line) for line in sys.stdin if line.strip()]
last = [e for e in events if e.get("type") == "rollout_started"][-1]["rollout"]
mine = [e for e in events if e.get("rollout") == last]
first = min(ts(e["ts"]) for e in mine if e["type"] == "task_started")
result = [e for e in mine if e["type"] == "host_result"][-1]
end = result.get("result", {}).get("end")
print("%.6f %s" % (ts(result["ts"]) - first, "%.6f" % (ts(result["ts"]) - local(end)) if end else "-"))
