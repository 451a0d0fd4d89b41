#!/usr/bin/env python3
"""Differential conformance suite for tachyon's template engine.

Cases live in cases/*.yaml. Their expected answers, produced by the oracles, are checked in
under expected/*.jsonl so the suite runs without the oracles:
  kind "ansible": rendered by ansible-playbook (core 2.14) as `debug: msg=<template>`
  kind "when":    evaluated by ansible-playbook as a task's `when:` (skipped => false)
  kind "jinja":   rendered by Jinja2 as Ansible's template module configures it

  run.py --tool BUILD/template_render_tool [--regen auto|always|never] [--expected-dir DIR]

--regen auto (the ctest default) regenerates the answers when ansible-playbook and Jinja2 are
installed (into --expected-dir; ctest passes its build directory) and otherwise uses the
checked-in ones. --regen always with the default --expected-dir refreshes the checked-in files. Values must match exactly, including types
(int vs float vs bool); when the oracle fails, we must fail too, and for undefined variables
our message must name the same variable.
"""

import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CASES_DIR = os.path.join(HERE, 'cases')
EXPECTED_DIR = os.path.join(HERE, 'expected')
VARS = os.path.join(HERE, 'vars.json')
ORACLE_PYTHON = '/usr/bin/python3' if os.path.exists('/usr/bin/python3') else sys.executable


def load_cases():
    """Returns {suite: [case, ...]} from cases/*.yaml, or from expected/ without PyYAML."""
    suites = {}
    try:
        import yaml
    except ImportError:
        yaml = None
    for path in sorted(glob.glob(os.path.join(CASES_DIR, '*.yaml'))):
        suite = os.path.splitext(os.path.basename(path))[0]
        if yaml is None:
            suites[suite] = [dict(kind=e['kind'], template=e['template'])
                             for e in read_jsonl(os.path.join(EXPECTED_DIR, suite + '.jsonl'))]
            continue
        with open(path) as f:
            doc = yaml.safe_load(f)
        kind = doc.get('kind', 'ansible')
        cases = []
        for entry in doc['cases']:
            if isinstance(entry, str):
                cases.append(dict(kind=kind, template=entry))
            else:
                cases.append(dict(kind=entry.get('kind', kind), template=entry['t']))
        suites[suite] = cases
    return suites


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def oracles_available():
    if not shutil.which('ansible-playbook'):
        return False
    return subprocess.run([ORACLE_PYTHON, '-c', 'import jinja2'], capture_output=True).returncode == 0


def yaml_str(s):
    # JSON string syntax is valid YAML double-quoted syntax.
    return json.dumps(s)


def run_ansible(cases):
    """Evaluates all ansible/when cases in one ansible-playbook run."""
    if not cases:
        return []
    with tempfile.TemporaryDirectory() as tmp:
        lines = ['- hosts: localhost', '  gather_facts: false',
                 '  vars_files: [%s]' % yaml_str(VARS), '  tasks:']
        for i, case in enumerate(cases):
            lines.append('    - name: %s' % yaml_str('case-%d' % i))
            lines.append('      ignore_errors: true')
            if case['kind'] == 'when':
                lines.append('      debug: {msg: ran}')
                lines.append('      when: %s' % yaml_str(case['template']))
            else:
                lines.append('      debug:')
                lines.append('        msg: %s' % yaml_str(case['template']))
        playbook = os.path.join(tmp, 'oracle.yml')
        with open(playbook, 'w') as f:
            f.write('\n'.join(lines) + '\n')
        env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK='json', ANSIBLE_LOCALHOST_WARNING='False',
                   ANSIBLE_NOCOLOR='1', ANSIBLE_DEPRECATION_WARNINGS='False',
                   ANSIBLE_SYSTEM_WARNINGS='False', TACHYON_CONFORMANCE='yes')
        proc = subprocess.run(['ansible-playbook', '-i', os.path.join(HERE, 'inventory.ini'), playbook],
                              capture_output=True, text=True, env=env)
        try:
            report = json.loads(proc.stdout[proc.stdout.index('{'):])
        except ValueError:
            sys.exit('ansible-playbook failed:\n%s\n%s' % (proc.stdout[-3000:], proc.stderr[-3000:]))
    tasks = report['plays'][0]['tasks']
    if len(tasks) != len(cases):
        sys.exit('ansible-playbook ran %d of %d cases:\n%s' % (len(tasks), len(cases), proc.stderr[-3000:]))
    answers = []
    for case, task in zip(cases, tasks):
        host = task['hosts']['localhost']
        if host.get('failed'):
            answers.append(dict(ok=False, error=str(host.get('msg', ''))))
        elif case['kind'] == 'when':
            answers.append(dict(ok=True, value=not host.get('skipped', False)))
        else:
            answers.append(dict(ok=True, value=host.get('msg')))
    return answers


def run_jinja(cases):
    if not cases:
        return []
    proc = subprocess.run([ORACLE_PYTHON, os.path.join(HERE, 'jinja_oracle.py'), VARS],
                          input=''.join(json.dumps(c) + '\n' for c in cases),
                          capture_output=True, text=True, check=True)
    return [json.loads(line) for line in proc.stdout.splitlines()]


def regenerate(suites, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    flat = [(suite, i, c) for suite, cases in suites.items() for i, c in enumerate(cases)]
    ansible_cases = [c for _, _, c in flat if c['kind'] in ('ansible', 'when')]
    jinja_cases = [c for _, _, c in flat if c['kind'] == 'jinja']
    ansible_answers = iter(run_ansible(ansible_cases))
    jinja_answers = iter(run_jinja(jinja_cases))
    for suite, cases in suites.items():
        with open(os.path.join(out_dir, suite + '.jsonl'), 'w') as f:
            for case in cases:
                answer = next(jinja_answers) if case['kind'] == 'jinja' else next(ansible_answers)
                f.write(json.dumps(dict(kind=case['kind'], template=case['template'], **answer),
                                   ensure_ascii=False) + '\n')
    for suite in os.listdir(out_dir):
        if os.path.splitext(suite)[0] not in suites:
            os.remove(os.path.join(out_dir, suite))


def report_drift(suites, fresh_dir):
    """Says which fresh oracle answers differ from the checked-in ones (not a failure)."""
    drift = 0
    for suite in suites:
        checked_in = os.path.join(EXPECTED_DIR, suite + '.jsonl')
        if not os.path.exists(checked_in):
            drift += 1
            continue
        old = read_jsonl(checked_in)
        new = read_jsonl(os.path.join(fresh_dir, suite + '.jsonl'))
        for a, b in zip(old, new):
            if a['template'] != b['template'] or a['ok'] != b['ok'] or (
                    a['ok'] and not same(a['value'], b['value'])):
                drift += 1
        drift += abs(len(old) - len(new))
    if drift:
        print('note: %d oracle answers differ from tests/conformance/expected; '
              'run run.py --regen always to update them' % drift)


def same(a, b):
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


UNDEFINED_RE = re.compile(r"'([^']+)' is undefined|has no attribute '([^']+)'")


def check(expected, got):
    """Returns None when `got` agrees with the oracle, else a reason."""
    if expected['ok']:
        if not got['ok']:
            return 'oracle gave %r, we failed: %s' % (expected['value'], got['error'])
        if not same(expected['value'], got['value']):
            return 'oracle gave %r, we gave %r' % (expected['value'], got['value'])
        return None
    if got['ok']:
        return 'oracle failed (%s), we gave %r' % (expected['error'][:300], got['value'])
    m = UNDEFINED_RE.search(expected['error'])
    if m:
        name = m.group(1) or m.group(2)
        if not got.get('undefined') or name not in got['error']:
            return 'oracle: undefined %r; we: %s' % (name, got['error'])
    return None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--tool', required=True)
    parser.add_argument('--regen', choices=['auto', 'always', 'never'], default='auto')
    parser.add_argument('--expected-dir', default=EXPECTED_DIR,
                        help='where regenerated answers go (ctest uses its build directory so '
                             'a test run never rewrites the source tree)')
    args = parser.parse_args()

    suites = load_cases()
    regen = args.regen == 'always' or (args.regen == 'auto' and oracles_available())
    expected_dir = EXPECTED_DIR
    if regen:
        expected_dir = os.path.abspath(args.expected_dir)
        regenerate(suites, expected_dir)
        print('regenerated expected answers from ansible-playbook and Jinja2 into %s' % expected_dir)
        if expected_dir != os.path.abspath(EXPECTED_DIR):
            report_drift(suites, expected_dir)
    else:
        print('oracles not installed: using the checked-in answers')

    failures = 0
    total = 0
    per_kind = {}
    for suite in suites:
        expected = read_jsonl(os.path.join(expected_dir, suite + '.jsonl'))
        proc = subprocess.run([args.tool, VARS, os.path.join(HERE, 'templates')],
                              input=''.join(json.dumps(dict(id=str(i), kind=e['kind'], template=e['template'])) + '\n'
                                            for i, e in enumerate(expected)),
                              capture_output=True, text=True)
        if proc.returncode != 0:
            print('%s: render tool failed (%d): %s' % (suite, proc.returncode, proc.stderr[-2000:]))
            return 1
        results = [json.loads(line) for line in proc.stdout.splitlines()]
        if len(results) != len(expected):
            print('%s: render tool answered %d of %d cases' % (suite, len(results), len(expected)))
            return 1
        for e, got in zip(expected, results):
            total += 1
            stats = per_kind.setdefault(e['kind'], [0, 0])
            stats[0] += 1
            reason = check(e, got)
            if reason:
                failures += 1
                print('FAIL %s [%s] %s\n     %s' % (suite, e['kind'], json.dumps(e['template']), reason))
            else:
                stats[1] += 1
    for kind, (n, ok) in sorted(per_kind.items()):
        print('  %-8s %4d/%d' % (kind, ok, n))
    print('%d cases, %d passed, %d failed' % (total, total - failures, failures))
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
