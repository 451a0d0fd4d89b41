#!/usr/bin/env python3
"""Rollout-control conformance (issue 6): who ran what, in which batch and order.

  run_rollout.py CASE [--cli BIN --controller BIN --agent BIN] [--keep] [--show]

CASE is a directory under cases/ (or its name) with site.yml and optionally case.json. The case
runs through ansible-playbook and through `tachyon run` with the machinery of
../playbooks/run_case.py (imported, not copied: its callback plugin writes the `-o json` event
stream on the Ansible side; a fresh PKI, a real controller and one real agent per host on the
tachyon side). Each side also gets `-e log=FILE`, a fresh file under its scratch dir, to which
every task of the playbook appends lines

    HOST BATCH TIMESTAMP TASK S|E          (start and end of the task on that host)

where BATCH is the batch marker: the play's first task sets `batch_id` to
`ansible_play_batch | join(',')`, so it names the hosts of the `serial` batch (in play order).
Agents and Ansible's local connection run on this machine, so one file serves all hosts.

From each side's log the driver derives a structure and compares it (never the clock):
  - batches: in the order they started, each with its hosts and every host's task sequence;
  - sequential: every line of a batch ended before the next batch started (per play marker);
  - lockstep (per batch): "held" when no task started on any host before the previous task (in
    the batch's task order) had ended on every host of the batch, else "broken";
  - host_order (case.json "host_order": true; use with -f 1 or throttle 1): per batch and task,
    the hosts in the order they started it;
  - concurrency: for each task named in case.json expect.concurrency {TASK: LIMIT} (such tasks
    sleep), whether the most hosts inside it at once, per batch, stayed within LIMIT. (The exact
    peak is not compared: on a loaded 2-core machine Ansible's workers often do not reach forks;
    the peaks are printed with any difference.)
It also compares, with run_case.compare, per host the `-o json` result events (status, result)
and the recap (counters and exit code). case.json:
  {"args": [...], "rc": N, "inventory": "inventory.ini", "agents": [...],
   "allow": [...], "tachyon_rc": {...}}        as in run_case.py, plus
  {"host_order": bool, "shuffle": bool   (batches compared by size and task sequences, and all
                                          batches' hosts as a sorted list: a permutation),
   "expect": {"batches": [[host, ...], ...], "concurrency": {TASK: N}}}
`expect` is checked on the Ansible side first (so that a case demonstrably tests what it says).
Exit: 0 same, 1 a difference (each printed), 77 skipped (no ansible-playbook / no tachyon run).
"""

import argparse
import json
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'playbooks'))
import run_case  # noqa: E402  (the playbook conformance driver: both sides, normalising, compare)

CASES = os.path.join(HERE, 'cases')
DEFAULT_AGENTS = ['host%d' % i for i in range(1, 8)]


def parse_log(path):
    """Intervals {host, task, batch, start, end} from a side's log, in start order."""
    open_ = {}
    out = []
    if not os.path.exists(path):
        return out
    with open(path, encoding='utf-8') as f:
        for line in f:
            parts = line.split()
            if len(parts) != 5:
                continue
            host, batch, ts, task, phase = parts
            key = (host, task, batch)
            if phase == 'S':
                iv = {'host': host, 'task': task, 'batch': batch, 'start': float(ts), 'end': None}
                open_.setdefault(key, []).append(iv)
                out.append(iv)
            elif phase == 'E' and open_.get(key):
                open_[key].pop(0)['end'] = float(ts)
    for iv in out:
        if iv['end'] is None:
            iv['end'] = iv['start']
    out.sort(key=lambda iv: iv['start'])
    return out


def max_overlap(ivs):
    points = sorted([(iv['start'], 1) for iv in ivs] + [(iv['end'], -1) for iv in ivs],
                    key=lambda p: (p[0], p[1]))
    n = best = 0
    for _, d in points:
        n += d
        best = max(best, n)
    return best


def structure(ivs, case):
    """The comparable structure (see the docstring) and details for the report."""
    shuffle = case.get('shuffle', False)
    batches = []  # [(marker, [intervals])] in order of first start
    index = {}
    for iv in ivs:
        if iv['batch'] not in index:
            index[iv['batch']] = len(batches)
            batches.append((iv['batch'], []))
        batches[index[iv['batch']]][1].append(iv)
    out = {'batches': [], 'sequential': True, 'lockstep': [], 'concurrency': {}}
    if case.get('host_order'):
        out['host_order'] = []
    details = []
    for k, (marker, bivs) in enumerate(batches):
        hosts = {}
        for iv in bivs:
            hosts.setdefault(iv['host'], []).append(iv['task'])
        name = marker
        if shuffle:  # which hosts share a batch is random: keep sizes and task sequences
            name = f'batch{k + 1}'
            out['batches'].append({'size': len(hosts), 'tasks': sorted(hosts.values())})
            out.setdefault('hosts', []).extend(hosts)
        else:
            out['batches'].append({'batch': name, 'hosts': hosts})
        if shuffle and k + 1 == len(batches):
            out['hosts'].sort()
        if k + 1 < len(batches):
            nxt = batches[k + 1][1]
            if max(iv['end'] for iv in bivs) > min(iv['start'] for iv in nxt):
                out['sequential'] = False
                details.append(f'batch {marker} overlaps batch {batches[k + 1][0]}')
        # Lockstep: tasks in the order they first started within the batch.
        order = []
        for iv in bivs:
            if iv['task'] not in order:
                order.append(iv['task'])
        held = True
        for a, b in zip(order, order[1:]):
            end_a = max(iv['end'] for iv in bivs if iv['task'] == a)
            start_b = min(iv['start'] for iv in bivs if iv['task'] == b)
            if start_b < end_a:
                held = False
                details.append(f'batch {marker}: {b} started before {a} ended everywhere')
        out['lockstep'].append('held' if held else 'broken')
        if case.get('host_order'):
            out['host_order'].append({t: [iv['host'] for iv in bivs if iv['task'] == t]
                                      for t in order})
        limits = case.get('expect', {}).get('concurrency', {})
        for t in order:
            if t in limits:
                peak = max_overlap([iv for iv in bivs if iv['task'] == t])
                out['concurrency'][f'{name}/{t}'] = peak <= limits[t]
                details.append(f'batch {marker}: {t} peak {peak} (limit {limits[t]})')
    return out, details


def check_expect(case, st):
    exp = case.get('expect', {})
    problems = []
    if 'batches' in exp:
        got = [sorted(b.get('hosts', [])) for b in st['batches']]
        want = [sorted(b) for b in exp['batches']]
        if got != want:
            problems.append(f'batches {got}, expected {want}')
    for task, n in exp.get('concurrency', {}).items():
        got = [v for k, v in st['concurrency'].items() if k.endswith('/' + task)]
        if not got or not all(got):
            problems.append(f'{task} ran on more than {n} hosts at once (or not at all)')
    return problems


def diff_structures(a, t):
    diffs = []
    for key in sorted(set(a) | set(t)):
        if a.get(key) != t.get(key):
            diffs.append(f'structure "{key}" differs:\n  ansible: '
                         + json.dumps(a.get(key), sort_keys=True)
                         + '\n  tachyon: ' + json.dumps(t.get(key), sort_keys=True))
    return diffs


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('case')
    ap.add_argument('--cli')
    ap.add_argument('--controller')
    ap.add_argument('--agent')
    ap.add_argument('--keep', action='store_true', help='keep the temp dir')
    ap.add_argument('--show', action='store_true', help='print both structures')
    opts = ap.parse_args()

    case_dir = opts.case if os.path.isdir(opts.case) else os.path.join(CASES, opts.case)
    case_dir = os.path.abspath(case_dir)
    name = os.path.basename(case_dir)
    case = {}
    if os.path.exists(os.path.join(case_dir, 'case.json')):
        with open(os.path.join(case_dir, 'case.json')) as f:
            case = json.load(f)
    case.setdefault('agents', DEFAULT_AGENTS)
    inventory = os.path.join(HERE, case.get('inventory', 'inventory.ini'))
    for a in case.get('allow', []):
        if not a.get('reason'):
            print(f'{name}: allow-list entry without a reason: {a}')
            return 1
    if shutil.which('ansible-playbook') is None:
        print(f'{name}: SKIP: ansible-playbook is not installed')
        return 77
    bins = (opts.cli, opts.controller, opts.agent)
    have_tachyon = all(bins) and run_case.tachyon_has_run(opts.cli)

    tmp = tempfile.mkdtemp(prefix=f'trc-{name}-')
    rc = 0
    try:
        def side_case(prefix):
            # run_case makes TMP/a-work and TMP/t-work; the log goes inside, so that the
            # normaliser's <WORK> rule covers its path in the registered results.
            log = os.path.join(tmp, prefix + '-work', 'order.log')
            return dict(case, args=case.get('args', []) + ['-e', 'log=' + log]), log

        a_case, a_log = side_case('a')
        a_rc, a_events, a_out, a_paths = run_case.run_ansible(a_case, case_dir, inventory, tmp, [])
        want = case.get('rc', 0)
        if a_rc != want or not a_events or a_events[-1].get('type') != 'recap':
            print(a_out)
            print(f'{name}: the Ansible side itself is off: rc {a_rc} (want {want})')
            rc = 1
            return rc
        a_struct, a_details = structure(parse_log(a_log), case)
        problems = check_expect(case, a_struct)
        if problems:
            print(json.dumps(a_struct, indent=1, sort_keys=True))
            print('\n'.join(a_details))
            print(f'{name}: the Ansible side does not show what the case expects: '
                  + '; '.join(problems))
            rc = 1
            return rc
        if not have_tachyon:
            print(json.dumps(a_struct, indent=1, sort_keys=True))
            print('\n'.join(a_details))
            print(f'{name}: SKIP: no tachyon binaries with `run` given; the Ansible side ran '
                  f'(rc {a_rc}) and showed what the case expects')
            return 77

        t_case, t_log = side_case('t')
        t_rc, t_events, t_err, t_paths = run_case.run_tachyon(t_case, case_dir, inventory, tmp,
                                                              [], bins)
        t_struct, t_details = structure(parse_log(t_log), case)
        if opts.show:
            print('ansible structure:', json.dumps(a_struct, indent=1, sort_keys=True))
            print('tachyon structure:', json.dumps(t_struct, indent=1, sort_keys=True))

        diffs = diff_structures(a_struct, t_struct)
        if diffs:
            diffs.append('ansible log notes: ' + ('; '.join(a_details) or 'none')
                         + '\ntachyon log notes: ' + ('; '.join(t_details) or 'none'))
        a_norm = run_case.Normaliser(case, case_dir, a_paths, 0)
        t_norm = run_case.Normaliser(case, case_dir, t_paths, 0)
        diffs += run_case.compare(a_events, t_events, a_norm, t_norm, case.get('allow', []),
                                  case.get('tachyon_rc', {}).get('rc'))
        want_t_rc = case.get('tachyon_rc', {}).get('rc', a_rc)
        if t_rc != want_t_rc:
            diffs.append(f'exit code: ansible-playbook {a_rc}, tachyon run {t_rc}')
        if diffs:
            print(f'{name}: tachyon differs from ansible-playbook:')
            for d in diffs:
                print(d)
                print()
            if t_err.strip():
                print('--- tachyon run stderr ---\n' + t_err[-3000:])
            rc = 1
        else:
            print(f'{name}: OK ({len(a_struct["batches"])} batches, {len(a_events)} events, '
                  f'rc {a_rc})')
        return rc
    finally:
        if opts.keep or rc:
            print(f'(temp dir {tmp}' + (' kept)' if opts.keep else ' removed)'))
        if not opts.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
