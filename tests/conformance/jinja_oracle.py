#!/usr/bin/env python3
"""Renders "jinja" conformance cases with the real Jinja2, configured as Ansible's template
module configures it: trim_blocks, Ansible's chainable strict Undefined, None renders as '',
and the source's trailing newlines preserved.

Reads JSON lines {"template": ...} on stdin; writes {"ok": ..., "value"|"error": ...} lines."""

import json
import os
import sys

import jinja2
from jinja2 import StrictUndefined


class AnsibleUndefined(StrictUndefined):
    """Same behaviour as ansible.template.native_helpers.AnsibleUndefined."""

    def __getattr__(self, name):
        if name == '__UNSAFE__':
            raise AttributeError(name)
        return self

    def __getitem__(self, key):
        return self

    def __contains__(self, item):
        return self


def count_newlines_from_end(s):
    i = len(s)
    while i > 0 and s[i - 1] == '\n':
        i -= 1
    return len(s) - i


def main():
    with open(sys.argv[1]) as f:
        variables = json.load(f)
    here = os.path.dirname(os.path.abspath(__file__))
    env = jinja2.Environment(
        trim_blocks=True,
        undefined=AnsibleUndefined,
        finalize=lambda x: '' if x is None else x,
        loader=jinja2.FileSystemLoader(os.path.join(here, 'templates')),
    )
    env.globals['dict'] = dict
    for line in sys.stdin:
        case = json.loads(line)
        source = case['template']
        try:
            out = env.from_string(source).render(variables)
            want = count_newlines_from_end(source)
            have = count_newlines_from_end(out)
            if want > have:
                out += '\n' * (want - have)
            result = {'ok': True, 'value': out}
        except Exception as e:  # Every failure is an expected answer: the case must fail too.
            result = {'ok': False, 'error': '%s: %s' % (type(e).__name__, e)}
        print(json.dumps(result))


if __name__ == '__main__':
    main()
