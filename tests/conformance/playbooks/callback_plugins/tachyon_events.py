# Test code for tests/conformance/playbooks (not a vendored plugin): an ansible-core 2.14
# notification callback that writes the same event stream as `tachyon run -o json`
# (CONTRACT.md), one JSON object per line, to the file named by $TACHYON_EVENTS_OUT:
#
#   {"type":"result","play":..,"task":..,"host":..,"status":"ok|changed|failed|skipped|unreachable",
#    "ignored":bool,"result":{...}}
#   ... for a loop: one event per item (its result carries "item", whatever the loop_var),
#       then the task's aggregate
#   {"type":"recap","hosts":{HOST:{"ok":N,"changed":N,"unreachable":N,"failed":N,"skipped":N,
#    "rescued":N,"ignored":N}},"rc":RC}
#
# `result` is what `register` holds, built as ansible-core's strategy builds it
# (strategy/__init__.py: strip_internal_keys(deepcopy(raw result)), minus a top-level
# `invocation`). Callbacks only get TaskResult.clean_copy() (no `failed`/`skipped`), so this
# plugin wraps clean_copy to keep a reference to the raw result. For no_log tasks the event
# carries Ansible's censored message with the keys Ansible preserves (attempts, changed,
# retries), plus `failed: true` / `skipped: true` when the task failed / was skipped (the
# registered value itself stays intact, as in Ansible).
# An item event additionally carries `item` (whatever the loop_var; not under no_log) and,
# when the task sets loop_control.label, `_ansible_item_label`. The driver (run_case.py) normalises the rest.
# The recap's rc is computed from the stats here; the driver replaces it with ansible-playbook's
# real exit code.

from __future__ import annotations

import json
import os

from ansible.executor.task_result import TaskResult
from ansible.plugins.callback import CallbackBase
from ansible.vars.clean import module_response_deepcopy, strip_internal_keys

_CENSORED = ("the output has been hidden due to the fact that 'no_log: true' was specified "
             "for this result")

if not getattr(TaskResult.clean_copy, '_tachyon_wrapped', False):
    _orig_clean_copy = TaskResult.clean_copy

    def _clean_copy(self):
        copy = _orig_clean_copy(self)
        copy._tachyon_raw = self._result
        return copy

    _clean_copy._tachyon_wrapped = True
    TaskResult.clean_copy = _clean_copy

DOCUMENTATION = '''
    name: tachyon_events
    type: notification
    short_description: writes tachyon's `run -o json` event stream (conformance tests)
    description: One JSON line per task result and a recap, to $TACHYON_EVENTS_OUT.
'''


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'notification'
    CALLBACK_NAME = 'tachyon_events'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        path = os.environ.get('TACHYON_EVENTS_OUT')
        self._out = open(path, 'w', encoding='utf-8') if path else None
        self._play = ''
        self._names = {}  # task uuid -> the name shown in its TASK [...] header

    def _emit(self, obj):
        if self._out is None:
            return
        self._out.write(json.dumps(obj, sort_keys=True, default=str) + '\n')
        self._out.flush()

    # --- plays and tasks -------------------------------------------------------------------

    def v2_playbook_on_play_start(self, play):
        self._play = play.get_name().strip()

    def _task_start(self, task):
        self._names[task._uuid] = task.get_name().strip()

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._task_start(task)

    def v2_playbook_on_handler_task_start(self, task):
        self._task_start(task)

    def v2_playbook_on_cleanup_task_start(self, task):
        self._task_start(task)

    # --- results ---------------------------------------------------------------------------

    def _result(self, result, status, ignored=False, item=False):
        task = result._task
        name = self._names.get(task._uuid) or task.get_name().strip()
        raw = getattr(result, '_tachyon_raw', result._result)
        label = raw.get('_ansible_item_label')
        no_log = (isinstance(task.no_log, bool) and task.no_log) or raw.get('_ansible_no_log')
        if no_log:
            res = {'censored': _CENSORED}
            for k in ('attempts', 'changed', 'retries'):
                if k in raw:
                    res[k] = raw[k]
            for k in ('failed', 'skipped'):
                if raw.get(k):
                    res[k] = True
        else:
            res = strip_internal_keys(module_response_deepcopy(raw))
            res.pop('invocation', None)
        if item and not no_log:  # a no_log item is not shown (Ansible prints item=None)
            loop_var = raw.get('ansible_loop_var', 'item')
            if 'item' not in res and loop_var in raw:
                res['item'] = raw[loop_var]
            if task.loop_control and task.loop_control.label is not None and label is not None:
                res['_ansible_item_label'] = label
        if status == 'ok' and res.get('changed'):
            status = 'changed'
        self._emit({'type': 'result', 'play': self._play, 'task': name,
                    'host': result._host.get_name(), 'status': status,
                    'ignored': bool(ignored), 'result': res})

    def v2_runner_on_ok(self, result):
        self._result(result, 'ok')

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._result(result, 'failed', ignored=ignore_errors)

    def v2_runner_on_skipped(self, result):
        self._result(result, 'skipped')

    def v2_runner_on_unreachable(self, result):
        self._result(result, 'unreachable')

    def v2_runner_item_on_ok(self, result):
        self._result(result, 'ok', item=True)

    def v2_runner_item_on_failed(self, result):
        # An item's failure is "ignored" when its task ignores errors.
        self._result(result, 'failed', ignored=bool(result._task.ignore_errors), item=True)

    def v2_runner_item_on_skipped(self, result):
        self._result(result, 'skipped', item=True)

    # --- recap -----------------------------------------------------------------------------

    def v2_playbook_on_stats(self, stats):
        hosts = {}
        rc = 0
        for h in sorted(stats.processed.keys()):
            s = stats.summarize(h)
            hosts[h] = {'ok': s['ok'], 'changed': s['changed'], 'unreachable': s['unreachable'],
                        'failed': s['failures'], 'skipped': s['skipped'],
                        'rescued': s['rescued'], 'ignored': s['ignored']}
            if s['failures']:
                rc = 2
            elif s['unreachable'] and rc == 0:
                rc = 3
        self._emit({'type': 'recap', 'hosts': hosts, 'rc': rc})
        if self._out is not None:
            self._out.close()
            self._out = None
