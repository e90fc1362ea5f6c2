from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import json
import types

from ansible_collections.microvm.credentials.plugins.action.microvm_credentials import ActionModule

VALUES = {"db": b"hunter2", "token": b"\x00\xfftoken", "empty": b""}


def call_host(host_answer):
    """ActionModule._call_host for one instance, with a fake host that answers HOST_ANSWER."""
    sent = []

    def execute_module(module_name, module_args, task_vars):
        sent.append(module_args)
        return dict(host_answer)

    plugin = types.SimpleNamespace(
        _connection=types.SimpleNamespace(transport="ssh", has_pipelining=True, become=None),
        _execute_module=execute_module,
    )
    instance = {"name": "web"}
    injected = [{"id": cid, "name": cid + ".cred"} for cid in VALUES]
    resolved = [(instance, dict(VALUES), {}, injected)]
    ctx = types.SimpleNamespace(reasons={"web/db": "created"})
    args = {"directory": "/var/lib/microvm-credentials", "key": "auto", "purge": True}
    result = ActionModule._call_host(plugin, {}, args, [instance], resolved, {"web": {}}, ctx, [], {})
    return result, sent


def unkeyed_forms(value):
    digest = hashlib.sha256(value)
    return [digest.hexdigest(), digest.hexdigest()[:16], digest.hexdigest().upper(),
            base64.b64encode(digest.digest()).decode().rstrip("=")]


def test_the_result_carries_no_value_and_no_unkeyed_digest():
    result, sent = call_host({"changed": True, "credentials": []})
    assert [c["value"] for c in sent[0]["_credentials"]] == [base64.b64encode(v).decode() for v in VALUES.values()]
    assert "fingerprints" not in result
    text = json.dumps(result)
    for value in VALUES.values():
        for form in unkeyed_forms(value):
            assert form not in text
        if value:
            assert base64.b64encode(value).decode() not in text
    assert result["generated"] == ["web/db"] and result["changed"] is True
