#!/usr/bin/env python3
"""bench/latency.sh's subscriber: runs `tachyon events -f -o json`, stamps each line with
time.time() the moment it is read, and for every job_finished event computes
  exit->CLI        arrival - the job's exit on the agent (result.end, written by the agent's shim
                   when the child has exited; local time, microseconds)
  exit->stored     event ts (the controller's commit time) - result.end
  stored->CLI      arrival - event ts
It writes "ready" to READY once the first event arrived (the subscription is live), stops after
COUNT job_finished events or TIMEOUT seconds without one, and prints a JSON summary.
Usage: reader.py TACHYON READY COUNT TIMEOUT"""
import datetime
import json
import os
import subprocess
import sys
import time

tachyon, ready_path, count, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
proc = subprocess.Popen([tachyon, "events", "-f", "-o", "json"], stdout=subprocess.PIPE, bufsize=0)
fd = proc.stdout.fileno()
os.set_blocking(fd, True)


def parse_local(s):  # Python's datetime.now() format, local time; microseconds may be absent
    fmt = "%Y-%m-%d %H:%M:%S.%f" if "." in s else "%Y-%m-%d %H:%M:%S"
    return datetime.datetime.strptime(s, fmt).timestamp()


def parse_ts(s):  # RFC 3339 UTC
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


import select
buf = b""
ready = False
total, stored, delivered = [], [], []
last = time.time()
while len(total) < count:
    r, _, _ = select.select([fd], [], [], 1.0)
    if not r:
        if time.time() - last > timeout:
            break
        continue
    chunk = os.read(fd, 1 << 16)
    arrival = time.time()
    if not chunk:
        break
    buf += chunk
    while b"\n" in buf:
        line, buf = buf.split(b"\n", 1)
        if not ready:
            with open(ready_path, "w") as f:
                f.write("ready\n")
            ready = True
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if e.get("type") != "job_finished":
            continue
        res = e.get("result") or {}
        end = res.get("end")
        if not end:
            continue
        last = arrival
        t_end = parse_local(end)
        t_ts = parse_ts(e["ts"])
        total.append(arrival - t_end)
        stored.append(t_ts - t_end)
        delivered.append(arrival - t_ts)
proc.terminate()
proc.wait()


def pct(v, p):
    if not v:
        return None
    v = sorted(v)
    return v[min(len(v) - 1, max(0, int(round(p / 100.0 * len(v) + 0.5)) - 1))]


out = {"n": len(total)}
for name, v in (("total", total), ("stored", stored), ("delivered", delivered)):
    out[name] = {"p50": pct(v, 50), "p99": pct(v, 99), "max": max(v) if v else None}
print(json.dumps(out))
