#!/usr/bin/env python3
"""Playbook conformance: one case through ansible-playbook and through `tachyon run`.

  run_case.py CASE [--cli BIN --controller BIN --agent BIN] [--side both|ansible|tachyon]
              [--keep] [--show]

CASE is a directory under cases/ (or its name) holding site.yml and optionally case.json:
  {"args": [...],          extra ansible-playbook / tachyon run arguments, e.g. ["--check"];
                           "{case}" in an argument is replaced by the case directory
   "rc": N,                ansible-playbook's expected exit code (default 0)
   "http": true,           start a throw-away HTTP server on 127.0.0.1 (port 0), -e http_port=N
   "inventory": "inventory.ini",   a case's own inventory (default: ../inventory.ini)
   "agents": ["host1", ...],       hosts that get an agent on the tachyon side (default host1..3)
   "facts_tasks": [...],   tasks whose ansible_facts are compared by key and type only
   "allow": [{"task": T, "host": H (optional), "key": "dotted.path", "reason": "..."}],
                           known differences: the key is removed from both results first
   "tachyon_rc": {"rc": N, "reason": "..."}}   a known, documented exit-code difference

Both sides run the same playbook with the same inventory (host1..host3, local connection on the
Ansible side, one real agent per host on the tachyon side) and `-e work=DIR`, a private scratch
directory per side (playbooks keep host files under {{ work }}/{{ inventory_hostname }}).

What is compared (strictly): per host, the sequence of result events (play, task, status,
ignored, result) and the recap (per-host counters and the exit code). Normalised on both sides
before comparing, and nothing else:
  - Ansible-internal keys: `invocation`, `exception` (a Python traceback), `_ansible_*` (except an item event's
    `_ansible_item_label`, which is loop_control.label, when it differs from the item),
    `warnings`, `deprecations`;
  - timestamps and durations: start/end/stop (datetime strings), delta (duration strings),
    pause's "Paused for N seconds" (Ansible measures it),
    elapsed (uri/wait_for seconds), atime/mtime/ctime, HTTP date/last_modified headers;
  - job ids (`ansible_job_id` and every occurrence of one), `results_file` (and `erased`, the same
    path, from async_status cleanup), and `attempts` in
    results that carry a job id (how many async_status polls a job needed depends on timing);
  - paths: the side's scratch dir -> <WORK>, the playbook dir (tachyon: the controller's copy of
    the uploaded directory, STATE/rollouts/ID/bundle) -> <PLAYBOOK_DIR>, Ansible's
    module temp dir -> <TMP> and its controller-side temp files -> <LOCAL_TMP>, copy backups' timestamp suffix, `inode` and stat's `version` (the inode generation), the HTTP server's port;
  - facts from fact gathering: only the keys tachyon's agents report, as types;
  - unreachable results: only `unreachable` and `changed` (the transports' messages differ).
Exit: 0 both sides agree, 1 a difference (printed), 77 skipped (no ansible-playbook, or no
`tachyon run` in the CLI under test: then only the Ansible side ran and was checked).
"""

import argparse
import copy
import difflib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = os.path.join(HERE, 'cases')
DEFAULT_AGENTS = ['host1', 'host2', 'host3']
MAX_DIFFS_PER_HOST = 4
WAIT = 60  # generous bound (seconds) for anything we wait on
RUN_TIMEOUT = 300

# The facts an agent's hello carries (controller/agent_service.cc), compared by type. The setup
# module returns them prefixed (ansible_hostname, ...) in its result's ansible_facts.
FACT_KEYS = ('hostname', 'fqdn', 'os_family', 'distribution', 'distribution_version', 'kernel',
             'architecture', 'processor_vcpus', 'memtotal_mb', 'all_ipv4_addresses')

# Ansible-internal keys: module arguments echoed back, Python warnings/deprecations, and the
# controller's Python traceback text (`exception`, e.g. "NoneType: None" on a failed script).
INTERNAL_KEYS = ('invocation', 'warnings', 'deprecations', 'exception')

DATETIME = re.compile(r'^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d+)?$')
DURATION = re.compile(r'^-?\d+:\d{2}:\d{2}(\.\d+)?$')
BACKUP = re.compile(r'\.\d+\.\d{4}-\d{2}-\d{2}@\d{2}:\d{2}:\d{2}~')
PAUSED = re.compile(r'^Paused for [\d.]+ (seconds|minutes)$')  # pause's measured duration
HTTP_DATE = re.compile(r'^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$')


# ---------------------------------------------------------------------------------------------
# processes (only ones we start; stopped by their own handle)

class Proc:
    """A child with stdout+stderr drained into a log file and a line list by a thread."""

    def __init__(self, argv, log_path, env=None, cwd=None):
        self.argv = argv
        self.lines = []
        self.cv = threading.Condition()
        self.eof = False
        self.log = open(log_path, 'a', encoding='utf-8', errors='replace')
        self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                  start_new_session=False)
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for raw in self.p.stdout:
            line = raw.decode('utf-8', 'replace').rstrip('\n')
            self.log.write(line + '\n')
            self.log.flush()
            with self.cv:
                self.lines.append(line)
                self.cv.notify_all()
        with self.cv:
            self.eof = True
            self.cv.notify_all()

    def wait_line(self, pattern, start=0, timeout=WAIT):
        """Waits for a line matching `pattern` (regex) at index >= start; returns the match."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        i = start
        with self.cv:
            while True:
                while i < len(self.lines):
                    m = rx.search(self.lines[i])
                    i += 1
                    if m:
                        return m
                left = deadline - time.monotonic()
                if self.eof or left <= 0:
                    return None
                self.cv.wait(left)

    def line_count(self):
        with self.cv:
            return len(self.lines)

    def text(self):
        with self.cv:
            return '\n'.join(self.lines)

    def stop(self, grace=10):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(grace)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.t.join(5)
        self.log.close()


def kill_leftover_shims(root):
    """Kills job shims (and their process groups) our agents left under `root` (our temp dir):
    `tachyon-agent __shim ROOT/...`; a job survives its agent by design."""
    doomed = []
    for pid in os.listdir('/proc'):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f'/proc/{pid}/cmdline', 'rb') as f:
                cmd = f.read().decode('utf-8', 'replace')
        except OSError:
            continue
        if '__shim' in cmd and root in cmd:
            doomed.append(int(pid))
    for pid in doomed:
        for target in (-pid, pid):
            try:
                os.kill(target, signal.SIGKILL)
            except OSError:
                pass


# ---------------------------------------------------------------------------------------------
# the two sides

def read_events(path):
    events = []
    if not os.path.exists(path):
        return events
    with open(path, encoding='utf-8') as f:
        for line in f:
            line = line.strip()
            if not line.startswith('{'):
                continue
            try:
                events.append(json.loads(line))
            except ValueError:
                pass
    return events


def case_args(case, case_dir, work, extra):
    args = [a.replace('{case}', case_dir) for a in case.get('args', [])]
    return ['-e', 'work=' + work] + extra + args


def run_ansible(case, case_dir, inventory, tmp, extra):
    work = os.path.join(tmp, 'a-work')
    os.makedirs(work)
    events = os.path.join(tmp, 'ansible-events.jsonl')
    env = dict(os.environ)
    env.update({
        'ANSIBLE_CALLBACK_PLUGINS': os.path.join(HERE, 'callback_plugins'),
        'ANSIBLE_CALLBACKS_ENABLED': 'tachyon_events',
        'TACHYON_EVENTS_OUT': events,
        'ANSIBLE_CONFIG': os.path.join(tmp, 'no-ansible.cfg'),
        'ANSIBLE_HOME': os.path.join(tmp, 'a-home'),
        'ANSIBLE_LOCAL_TEMP': os.path.join(tmp, 'a-ltmp'),
        'ANSIBLE_REMOTE_TEMP': os.path.join(tmp, 'a-rtmp'),
        'ANSIBLE_ASYNC_DIR': os.path.join(tmp, 'a-async'),
        'ANSIBLE_NOCOLOR': '1',
        'ANSIBLE_RETRY_FILES_ENABLED': '0',
        'ANSIBLE_DEPRECATION_WARNINGS': '0',
        'ANSIBLE_HOST_KEY_CHECKING': '0',
        'ANSIBLE_TIMEOUT': '5',
        'ANSIBLE_SSH_ARGS': '-o BatchMode=yes -o ConnectTimeout=5',
        'ANSIBLE_FORKS': '5',
    })
    argv = ['ansible-playbook', '-i', inventory, os.path.join(case_dir, 'site.yml')]
    argv += case_args(case, case_dir, work, extra)
    p = subprocess.run(argv, cwd=case_dir, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=RUN_TIMEOUT)
    log = p.stdout.decode('utf-8', 'replace')
    with open(os.path.join(tmp, 'ansible.log'), 'w') as f:
        f.write(log)
    evs = read_events(events)
    if evs and evs[-1].get('type') == 'recap':
        evs[-1]['rc'] = p.returncode
    return p.returncode, evs, log, {'work': work, 'tmp': env['ANSIBLE_REMOTE_TEMP'],
                                    'ltmp': env['ANSIBLE_LOCAL_TEMP']}


def tachyon_has_run(cli):
    p = subprocess.run([cli, 'run', '--help'], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return p.returncode == 0


def run_tachyon(case, case_dir, inventory, tmp, extra, bins):
    work = os.path.join(tmp, 't-work')
    os.makedirs(work)
    pki = os.path.join(tmp, 'pki')
    cli, ctl_bin, agent_bin = bins
    agents = case.get('agents', DEFAULT_AGENTS)

    def cli_run(args, env=None, timeout=WAIT):
        return subprocess.run([cli] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=env, timeout=timeout)

    r = cli_run(['pki', 'init', '--dir', pki, '--san', '127.0.0.1,localhost'])
    if r.returncode != 0:
        raise RuntimeError('pki init: ' + r.stderr.decode())
    for a in agents:
        r = cli_run(['pki', 'issue', 'agent', a, '--dir', pki])
        if r.returncode != 0:
            raise RuntimeError('pki issue agent: ' + r.stderr.decode())

    procs = []
    try:
        ctl = Proc([ctl_bin, '--listen', '127.0.0.1:0', '--state-dir', os.path.join(tmp, 'ctl'),
                    '--ca', pki + '/ca.crt', '--cert', pki + '/controller.crt',
                    '--key', pki + '/controller.key', '--port-file', os.path.join(tmp, 'ctl.port')],
                   os.path.join(tmp, 'controller.log'))
        procs.append(ctl)
        m = ctl.wait_line(r'listening on 127\.0\.0\.1:(\d+)')
        if not m:
            raise RuntimeError('controller did not start:\n' + ctl.text())
        address = '127.0.0.1:' + m.group(1)
        for a in agents:
            start = ctl.line_count()
            ag = Proc([agent_bin, '--controller', address,
                       '--state-dir', os.path.join(tmp, 'agent-' + a), '--ca', pki + '/ca.crt',
                       '--cert', f'{pki}/agents/{a}.crt', '--key', f'{pki}/agents/{a}.key',
                       '--kill-grace', '1'],
                      os.path.join(tmp, f'agent-{a}.log'))
            procs.append(ag)
            if not ctl.wait_line(r"agent '%s' connected" % re.escape(a), start):
                raise RuntimeError(f'agent {a} did not connect:\n' + ag.text())

        env = dict(os.environ)
        env.update({'TACHYON_CONTROLLER': address, 'TACHYON_CA': pki + '/ca.crt',
                    'TACHYON_CERT': pki + '/admin.crt', 'TACHYON_KEY': pki + '/admin.key'})
        argv = [cli, 'run', os.path.join(case_dir, 'site.yml'), '-i', inventory, '-o', 'json']
        argv += case_args(case, case_dir, work, extra)
        p = subprocess.run(argv, cwd=case_dir, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=RUN_TIMEOUT)
        out = p.stdout.decode('utf-8', 'replace')
        err = p.stderr.decode('utf-8', 'replace')
        with open(os.path.join(tmp, 'tachyon-events.jsonl'), 'w') as f:
            f.write(out)
        evs = []
        for line in out.splitlines():
            line = line.strip()
            if line.startswith('{'):
                try:
                    evs.append(json.loads(line))
                except ValueError:
                    pass
        return p.returncode, evs, err, {'work': work, 'ctl': os.path.join(tmp, 'ctl')}
    finally:
        for proc in reversed(procs):
            proc.stop()
        kill_leftover_shims(tmp)


# ---------------------------------------------------------------------------------------------
# normalisation and comparison

class Normaliser:
    def __init__(self, case, case_dir, paths, http_port):
        self.facts_tasks = set(case.get('facts_tasks', [])) | {'Gathering Facts'}
        self.subs = []  # (regex, replacement) applied to every string
        dirs = {}
        for key, repl in (('work', '<WORK>'), ('tmp', '<TMP>'), ('ltmp', '<LOCAL_TMP>'),
                          ('ctl', '<CONTROLLER_STATE>'), ('case', '<PLAYBOOK_DIR>')):
            path = case_dir if key == 'case' else paths.get(key)
            if path:
                dirs[path] = repl
                dirs[os.path.realpath(path)] = repl
        # Longest first, so that a directory never eats part of a longer one.
        for path in sorted(dirs, key=len, reverse=True):
            self.subs.append((re.compile(re.escape(path) + r'(?![\w.-])'), dirs[path]))
        # A module's private temp dir inside Ansible's remote temp (random per task).
        self.subs.append((re.compile(r'<TMP>/ansible-tmp-[\d.]+-\d+-\d+'), '<TMP>'))
        # A module's temp copy of its source on the host (copy/template `src`): Ansible's is
        # TMP/ansible-tmp-*/source, tachyon's DEST_DIR/.tachyon_tmpNAME.XXXXXX.
        self.subs.append((re.compile(r'^\S*/\.tachyon_tmp[^/]*$'), '<TMP>/source'))
        # tachyon's copy of the playbook directory: the uploaded bundle is the playbook dir.
        self.subs.append((re.compile(r'<CONTROLLER_STATE>/rollouts/[^/]+/bundle(?![\w.-])'),
                          '<PLAYBOOK_DIR>'))
        # The controller side's temp files (diff headers of copy/template).
        self.subs.append((re.compile(r'<LOCAL_TMP>/ansible-local-\w+/tmp\w+'), '<LOCAL_TMP>'))
        if http_port:
            self.subs.append((re.compile(r'127\.0\.0\.1:%d\b' % http_port), '127.0.0.1:<PORT>'))
        self.subs.append((BACKUP, '.<BACKUP>~'))
        self.jids = set()
        self.http_port = http_port

    def collect_jids(self, v):
        if isinstance(v, dict):
            for k, x in v.items():
                if k == 'ansible_job_id' and isinstance(x, str) and x:
                    self.jids.add(x)
                self.collect_jids(x)
        elif isinstance(v, list):
            for x in v:
                self.collect_jids(x)

    def string(self, s):
        for rx, repl in self.subs:
            s = rx.sub(repl, s)
        for j in sorted(self.jids, key=len, reverse=True):
            s = s.replace(j, '<JID>')
        return s

    def value(self, v):
        if isinstance(v, dict):
            out = {}
            # How many polls an async job needed is a duration in disguise.
            polling = 'ansible_job_id' in v
            for k, x in v.items():
                if k in INTERNAL_KEYS or k.startswith('_ansible_'):
                    continue
                if k == 'attempts' and polling and isinstance(x, int):
                    out[k] = '<ATTEMPTS>'
                    continue
                out[k] = self.keyed(k, x)
            return out
        if isinstance(v, list):
            return [self.value(x) for x in v]
        if isinstance(v, str):
            return self.string(v)
        return v

    def keyed(self, k, x):
        if k in ('start', 'end', 'stop') and isinstance(x, str) and DATETIME.match(x):
            return '<TIME>'
        if k == 'delta' and isinstance(x, str) and DURATION.match(x):
            return '<DELTA>'
        if k == 'elapsed' and isinstance(x, (int, float)):
            return '<ELAPSED>'
        if k in ('atime', 'mtime', 'ctime') and isinstance(x, (int, float)):
            return '<TIME>'
        if k == 'stdout' and isinstance(x, str) and PAUSED.match(x):
            return PAUSED.sub(r'Paused for <DURATION> \1', x)
        if k in ('date', 'last_modified') and isinstance(x, str) and HTTP_DATE.match(x):
            return '<TIME>'
        if k == 'inode' and isinstance(x, int):
            return '<INODE>'
        # stat's `version` is the inode generation: random for every new file.
        if k == 'version' and isinstance(x, str) and x.isdigit():
            return '<INODE_GENERATION>'
        if k == 'port' and isinstance(x, int) and self.http_port and x == self.http_port:
            return '<PORT>'
        if k == 'ansible_job_id' and isinstance(x, str) and x:
            return '<JID>'
        if k in ('results_file', 'erased') and isinstance(x, str):
            return '<RESULTS_FILE>'
        return self.value(x)

    def event(self, e):
        e = copy.deepcopy(e)
        res = e.get('result', {})
        if not isinstance(res, dict):
            res = {'_not_an_object': res}
        # loop_control.label: compared when it is not simply the item.
        label = res.get('_ansible_item_label') if 'item' in res else None
        if label is not None and (label == res.get('item') or label == str(res.get('item'))):
            label = None
        if e.get('status') == 'unreachable':
            res = {k: res[k] for k in ('unreachable', 'changed') if k in res}
        if e.get('task') in self.facts_tasks and isinstance(res.get('ansible_facts'), dict):
            facts = res['ansible_facts']
            res['ansible_facts'] = {'ansible_' + k: type(facts['ansible_' + k]).__name__
                                    for k in FACT_KEYS if 'ansible_' + k in facts}
        res = self.value(res)
        if label is not None:
            res['_ansible_item_label'] = self.value(label)
        e['result'] = res
        return e


def drop_path(d, dotted):
    parts = dotted.split('.')
    for p in parts[:-1]:
        if isinstance(d, dict):
            d = d.get(p)
        elif isinstance(d, list) and p.isdigit() and int(p) < len(d):
            d = d[int(p)]
        else:
            return
    if isinstance(d, dict):
        d.pop(parts[-1], None)


def per_host(events, norm, allow):
    """{host: [(play, task, status, ignored, result), ...]} and the recap."""
    hosts, recap = {}, None
    for e in events:
        if e.get('type') == 'recap':
            recap = e
            continue
        if e.get('type') != 'result':
            continue
        n = norm.event(e)
        for a in allow:
            if a.get('task') == n.get('task') and a.get('host', n['host']) == n['host']:
                if a['key'] == 'status':
                    n['status'] = '<ALLOWED>'
                else:
                    drop_path(n['result'], a['key'])
        hosts.setdefault(n.get('host'), []).append(
            {'play': n.get('play'), 'task': n.get('task'), 'status': n.get('status'),
             'ignored': n.get('ignored'), 'result': n['result']})
    return hosts, recap


def pretty(events):
    return json.dumps(events, indent=1, sort_keys=True).splitlines()


def compare(a_events, t_events, a_norm, t_norm, allow, rc_override=None):
    """Returns a list of human-readable differences (empty when equal)."""
    for e in a_events:
        a_norm.collect_jids(e)
    for e in t_events:
        t_norm.collect_jids(e)
    a_hosts, a_recap = per_host(a_events, a_norm, allow)
    t_hosts, t_recap = per_host(t_events, t_norm, allow)
    diffs = []
    for h in sorted(set(a_hosts) | set(t_hosts), key=str):
        av, tv = a_hosts.get(h, []), t_hosts.get(h, [])
        if av == tv:
            continue
        # The first few differing events (a missing or extra event shifts all later ones).
        shown = 0
        for i in range(max(len(av), len(tv))):
            x = av[i] if i < len(av) else None
            y = tv[i] if i < len(tv) else None
            if x != y:
                where = (x or y)
                diffs.append(f'host {h}: event #{i} (task "{where["task"]}") differs:\n'
                             + '\n'.join(difflib.unified_diff(
                                 pretty(x), pretty(y), 'ansible', 'tachyon', lineterm='', n=3)))
                shown += 1
                if shown == MAX_DIFFS_PER_HOST:
                    break
    if a_recap is not None and t_recap is not None and rc_override is not None:
        a_recap = dict(a_recap, rc=rc_override)
    if a_recap is None or t_recap is None:
        diffs.append(f'recap missing: ansible {a_recap is not None}, tachyon {t_recap is not None}')
    elif a_recap != t_recap:
        diffs.append('recap differs:\n' + '\n'.join(difflib.unified_diff(
            pretty(a_recap), pretty(t_recap), 'ansible', 'tachyon', lineterm='')))
    return diffs


# ---------------------------------------------------------------------------------------------

def start_http(tmp):
    www = os.path.join(tmp, 'www')
    os.makedirs(www)
    with open(os.path.join(www, 'health'), 'w') as f:
        f.write('OK\n')
    with open(os.path.join(www, 'data.json'), 'w') as f:
        json.dump({'service': 'demo', 'version': 2, 'tags': ['a', 'b']}, f)
    p = Proc([sys.executable, '-u', '-m', 'http.server', '0', '--bind', '127.0.0.1',
              '--directory', www], os.path.join(tmp, 'http.log'))
    m = p.wait_line(r'Serving HTTP on 127\.0\.0\.1 port (\d+)')
    if not m:
        p.stop()
        raise RuntimeError('http server did not start:\n' + p.text())
    return p, int(m.group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('case')
    ap.add_argument('--cli')
    ap.add_argument('--controller')
    ap.add_argument('--agent')
    ap.add_argument('--side', choices=('both', 'ansible', 'tachyon'), default='both')
    ap.add_argument('--keep', action='store_true', help='keep the temp dir (printed)')
    ap.add_argument('--show', action='store_true', help='print the normalised events')
    opts = ap.parse_args()

    case_dir = opts.case if os.path.isdir(opts.case) else os.path.join(CASES, opts.case)
    case_dir = os.path.abspath(case_dir)
    name = os.path.basename(case_dir)
    case = {}
    if os.path.exists(os.path.join(case_dir, 'case.json')):
        with open(os.path.join(case_dir, 'case.json')) as f:
            case = json.load(f)
    inventory = os.path.join(case_dir, case.get('inventory', '../../inventory.ini'))
    inventory = os.path.normpath(inventory)
    allow = case.get('allow', [])
    for a in allow:
        if not a.get('reason'):
            print(f'{name}: allow-list entry without a reason: {a}')
            return 1

    have_ansible = shutil.which('ansible-playbook') is not None
    bins = (opts.cli, opts.controller, opts.agent)
    want_tachyon = opts.side in ('both', 'tachyon') and all(bins)
    have_run = want_tachyon and tachyon_has_run(opts.cli)
    if opts.side in ('both', 'ansible') and not have_ansible:
        print(f'{name}: SKIP: ansible-playbook is not installed')
        return 77

    tmp = tempfile.mkdtemp(prefix=f'tpc-{name}-')
    http = None
    rc = 0
    try:
        extra = []
        port = 0
        if case.get('http'):
            http, port = start_http(tmp)
            extra = ['-e', f'http_port={port}']
        a_rc = a_events = None
        if opts.side in ('both', 'ansible'):
            a_rc, a_events, a_log, a_paths = run_ansible(case, case_dir, inventory, tmp, extra)
            want_rc = case.get('rc', 0)
            ok = a_rc == want_rc and a_events and a_events[-1].get('type') == 'recap'
            if not ok:
                print(a_log)
                print(f'{name}: the Ansible side itself is off: rc {a_rc} (want {want_rc}), '
                      f'{len(a_events)} events')
                return 1
            a_norm = Normaliser(case, case_dir, a_paths, port)
            if opts.show:
                for e in a_events:
                    a_norm.collect_jids(e)
                for e in a_events:
                    print('A', json.dumps(a_norm.event(e) if e.get('type') == 'result' else e,
                                          sort_keys=True))
        if opts.side == 'ansible':
            print(f'{name}: ansible-playbook rc {a_rc}, {len(a_events)} events')
            return 0
        if not want_tachyon:
            print(f'{name}: SKIP: no tachyon binaries given (--cli/--controller/--agent)')
            return 77
        if not have_run:
            print(f'{name}: SKIP: `tachyon run` is not available yet; the Ansible side ran '
                  f'({len(a_events or [])} events, rc {a_rc}) and was not compared')
            return 77
        t_rc, t_events, t_err, t_paths = run_tachyon(case, case_dir, inventory, tmp, extra, bins)
        t_norm = Normaliser(case, case_dir, t_paths, port)
        if opts.show:
            for e in t_events:
                t_norm.collect_jids(e)
            for e in t_events:
                print('T', json.dumps(t_norm.event(e) if e.get('type') == 'result' else e,
                                      sort_keys=True))
        if os.environ.get('TPC_SAVE_DIR'):  # for offline analysis: both raw event streams
            with open(os.path.join(os.environ['TPC_SAVE_DIR'], name + '.json'), 'w') as f:
                json.dump({'case': case, 'case_dir': case_dir, 'port': port, 'a': a_events,
                           'a_paths': a_paths, 't': t_events, 't_paths': t_paths, 't_rc': t_rc,
                           'a_rc': a_rc}, f)
        if opts.side == 'tachyon':
            print(t_err)
            print(f'{name}: tachyon run rc {t_rc}, {len(t_events)} events')
            return 0
        diffs = compare(a_events, t_events, a_norm, t_norm, allow,
                        case.get('tachyon_rc', {}).get('rc'))
        if t_events and t_events[-1].get('type') == 'recap' and t_events[-1].get('rc') != t_rc:
            diffs.append(f'tachyon run exited {t_rc} but its recap says rc {t_events[-1]["rc"]}')
        want_t_rc = case.get('tachyon_rc', {}).get('rc', a_rc)
        if t_rc != want_t_rc:
            diffs.append(f'exit code: ansible-playbook {a_rc}, tachyon run {t_rc}'
                         + (f' (want {want_t_rc})' if want_t_rc != a_rc else ''))
        if diffs:
            print(f'{name}: tachyon differs from ansible-playbook:')
            for d in diffs:
                print(d)
                print()
            if t_err.strip():
                print('--- tachyon run stderr ---\n' + t_err[-4000:])
            rc = 1
        else:
            print(f'{name}: OK ({len(a_events)} events, rc {a_rc})')
        return rc
    finally:
        if http:
            http.stop()
        if opts.keep or rc:
            print(f'(kept {tmp})' if opts.keep else f'(logs were in {tmp}; removed)')
        if not opts.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
