#!/usr/bin/python3
# Dumps what ansible-core 2.14 makes of a playbook: for every play, the leaf tasks in the order
# Play.compile() runs them (pre_tasks, roles, tasks, post_tasks; blocks, import_tasks and
# import_role flattened; implicit flush_handlers dropped), then the handlers, each with its
# action as written, name, module args and loaded keywords. playbook_test flattens tachyon's
# model the same way and compares. Run with Debian's python3 (where ansible lives):
#   playbook_oracle.py PLAYBOOK > expected.json
import json
import sys

from ansible import context
from ansible.inventory.manager import InventoryManager
from ansible.module_utils.common.collections import ImmutableDict
from ansible.parsing.dataloader import DataLoader
from ansible.playbook import Playbook
from ansible.playbook.block import Block
from ansible.utils.sentinel import Sentinel
from ansible.vars.manager import VariableManager

context.CLIARGS = ImmutableDict(tags=[], skip_tags=[])

KEYWORDS = ['register', 'async_val', 'poll', 'loop', 'loop_with', 'delegate_to', 'retries',
            'delay', 'run_once', 'until', 'when', 'ignore_errors', 'notify', 'tags',
            'throttle', 'changed_when', 'failed_when', 'no_log', 'check_mode', 'listen']
LOOP_CONTROL = ['loop_var', 'index_var', 'label', 'pause', 'extended']


def plain(v):
    if isinstance(v, dict):
        return {str(k): plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, str):
        return str(v)
    return v


def task_json(t):
    out = {'action': t.action, 'name': t.name or '', 'args': plain(t.args)}
    kw = {}
    for k in KEYWORDS:
        v = getattr(t, '_' + k, Sentinel)
        if v is Sentinel or v is None or v == []:
            continue  # unset, or a list attribute's empty default
        kw[k] = plain(v)
    lc = getattr(t, '_loop_control', Sentinel)
    if lc is not Sentinel and lc is not None:
        kw['loop_control'] = {k: plain(getattr(lc, '_' + k)) for k in LOOP_CONTROL
                              if getattr(lc, '_' + k, Sentinel) not in (Sentinel, None)}
    out['keywords'] = kw
    return out


def leaves(item, out):
    if isinstance(item, Block):
        for part in (item.block, item.rescue, item.always):
            for x in part:
                leaves(x, out)
    elif not getattr(item, 'implicit', False):
        out.append(task_json(item))


def main():
    loader = DataLoader()
    inventory = InventoryManager(loader=loader, sources=['localhost,'])
    vm = VariableManager(loader=loader, inventory=inventory)
    pb = Playbook.load(sys.argv[1], variable_manager=vm, loader=loader)
    plays = []
    for play in pb.get_plays():
        tasks, handlers = [], []
        for b in play.compile():
            leaves(b, tasks)
        for b in play.handlers:
            leaves(b, handlers)
        plays.append({'name': play.name or '', 'tasks': tasks, 'handlers': handlers})
    print(json.dumps(plays, indent=2, sort_keys=True))


main()
