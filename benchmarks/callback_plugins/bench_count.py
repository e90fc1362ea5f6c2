# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Benchmark helper (not part of the collection's API): count task results per host.

Enabled by benchmarks/run.py with ANSIBLE_CALLBACK_PLUGINS=benchmarks/callback_plugins
and ANSIBLE_CALLBACKS_ENABLED=bench_count; writes one JSON document to
$BENCH_COUNT_FILE at the end of the playbook:

    {"HOST": {"tasks": [{"task": NAME, "action": ACTION, "status": ok|changed|failed|skipped,
                         "items": N or null, "seconds": S}, ...],
              "credentials": {"decryptions": N, "sent": N}}}

Loop items are counted through v2_runner_item_on_*: each item of a loop task is
one module execution on the host (unless skipped).

"credentials" (only for hosts that ran the role's credentials task) holds two
non-secret fields of that task's result: how many stored values the controller
decrypted and how many values went to the host. The task has no_log, so a callback
only sees a censored result; the fields are read from the variable the role
registers (REGISTERED), which Ansible keeps uncensored for later tasks. Nothing
else of that result is copied.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import time

from ansible.plugins.callback import CallbackBase

# roles/microvm/tasks/credentials.yml: register of the microvm_credentials task.
REGISTERED = "__microvm_credentials"

DOCUMENTATION = r"""
name: bench_count
type: aggregate
short_description: Count task and loop-item results per host (benchmarks only)
description:
  - Writes the per-host task results of a playbook run as JSON to C($BENCH_COUNT_FILE).
requirements:
  - enabled with C(ANSIBLE_CALLBACKS_ENABLED=bench_count)
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_count"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super(CallbackModule, self).__init__(*args, **kwargs)
        self._hosts = {}
        self._items = {}
        self._started = {}
        self._variables = None

    def v2_playbook_on_play_start(self, play):
        self._variables = play.get_variable_manager()

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._started[task._uuid] = time.time()

    def v2_playbook_on_handler_task_start(self, task):
        self._started[task._uuid] = time.time()

    def _item(self, result):
        key = (result._host.get_name(), result._task._uuid)
        self._items[key] = self._items.get(key, 0) + (0 if result._result.get("skipped") else 1)

    def _record(self, result, status):
        host = result._host.get_name()
        key = (host, result._task._uuid)
        if status == "ok" and result._result.get("changed"):
            status = "changed"
        self._hosts.setdefault(host, {"tasks": []})["tasks"].append({
            "task": result._task.get_name(),
            "action": result._task.action,
            "status": status,
            "items": self._items.pop(key, None) if "results" in result._result else None,
            "seconds": round(time.time() - self._started.get(result._task._uuid, time.time()), 3),
        })

    def v2_runner_item_on_ok(self, result):
        self._item(result)

    def v2_runner_item_on_failed(self, result):
        self._item(result)

    def v2_runner_item_on_skipped(self, result):
        self._item(result)

    def v2_runner_on_ok(self, result):
        self._record(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, "failed")

    def v2_runner_on_skipped(self, result):
        self._record(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._record(result, "unreachable")

    def _credentials(self):
        """{host: {"decryptions": N, "sent": N}} from the registered credentials results."""
        # Registered results live in the variable manager's non-persistent facts (no public reader
        # short of templating every host's variables).
        facts = getattr(self._variables, "_nonpersistent_fact_cache", None) or {}
        out = {}
        for host, values in facts.items():
            result = values.get(REGISTERED)
            if isinstance(result, dict) and "decryptions" in result:
                out[host] = {"decryptions": result["decryptions"], "sent": len(result.get("sent") or ())}
        return out

    def v2_playbook_on_stats(self, stats):
        for host, counts in self._credentials().items():
            self._hosts.setdefault(host, {"tasks": []})["credentials"] = counts
        path = os.environ.get("BENCH_COUNT_FILE")
        if path:
            with open(path, "w") as f:
                json.dump(self._hosts, f, indent=1, sort_keys=True)
