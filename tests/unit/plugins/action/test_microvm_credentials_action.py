from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import json

from ansible_collections.microvm.credentials.plugins.action.microvm_credentials import ActionModule, Injected
from ansible_collections.microvm.credentials.plugins.plugin_utils._resolve import Context, Value

VALUES = {"db": b"hunter2", "token": b"\x00\xfftoken", "empty": b""}


class FakeTask:
    check_mode = False


class FakeConnection:
    transport = "ssh"
    has_pipelining = True
    become = None


class FakeStore:
    decryptions = 0

    @staticmethod
    def token_key():
        return b"k" * 32


def call_host():
    """ActionModule._call_host for one instance whose host needs every value: the result the playbook sees."""
    plugin = ActionModule.__new__(ActionModule)
    plugin._task, plugin._connection, plugin._src_decryptions = FakeTask(), FakeConnection(), 0
    answers = [{"changed": True, "need": ["web/%s" % n for n in VALUES]}, {"changed": True, "need": []}]
    sent = []

    def execute_module(module_name, module_args, task_vars):
        sent.append(module_args["_credentials"])
        return answers.pop(0)
    plugin._execute_module = execute_module
    injected = [Injected("web", name, Value(data=value, source="src-" + name), None) for name, value in VALUES.items()]
    ctx = Context(FakeStore())
    ctx.reasons = {"web/db": "created"}
    result = plugin._call_host({}, {"directory": "/d", "key": "auto", "purge": True}, [{"name": "web"}], injected, {}, ctx, [], {})
    return result, sent


def unkeyed_forms(value):
    digest = hashlib.sha256(value)
    return [digest.hexdigest(), digest.hexdigest()[:16], digest.hexdigest().upper(),
            base64.b64encode(digest.digest()).decode().rstrip("=")]


def test_the_result_carries_no_value_and_no_unkeyed_digest():
    result, sent = call_host()
    assert [c.get("value") for c in sent[-1]] == [base64.b64encode(v).decode() for v in VALUES.values()]  # the values went
    assert "fingerprints" not in result
    text = json.dumps(result)
    for value in VALUES.values():
        for form in unkeyed_forms(value):
            assert form not in text
        if value:
            assert base64.b64encode(value).decode() not in text
    assert result["generated"] == ["web/db"] and result["changed"] is True
