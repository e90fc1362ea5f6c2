from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import json

from ansible.parsing.vault import VaultLib, VaultSecret

from ansible_collections.microvm.credentials.plugins.action.microvm_credentials import ActionModule, Injected
from ansible_collections.microvm.credentials.plugins.plugin_utils._resolve import Context, Value, host_token

KEY = b"k" * 32


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
        return KEY


def action(answers):
    plugin = ActionModule.__new__(ActionModule)
    plugin._task, plugin._connection, plugin._src_decryptions = FakeTask(), FakeConnection(), 0
    calls = []

    def execute_module(module_name, module_args, task_vars):
        calls.append([dict(c) for c in module_args["_credentials"]])
        return answers.pop(0)
    plugin._execute_module = execute_module
    return plugin, calls


def items():
    reads = []

    def loader(data):
        return lambda: reads.append(data) or data
    return [Injected("web", "a", Value(load=loader(b"A"), source="src-a"), None),
            Injected("web", "b", Value(load=loader(b"B"), source="src-b"), None)], reads


def run(answers):
    plugin, calls = action(answers)
    injected, reads = items()
    ctx = Context(FakeStore())
    result = plugin._call_host({}, {"credential_directory": "/d", "key": "auto", "purge": True}, [{"name": "web"}], injected, {}, ctx, [], {})
    return result, calls, reads


def test_a_host_that_needs_nothing_gets_tokens_only_and_nothing_is_read():
    result, calls, reads = run([{"changed": False, "need": []}])
    assert calls == [[{"instance": "web", "name": "a", "token": host_token(KEY, "src-a", None)},
                      {"instance": "web", "name": "b", "token": host_token(KEY, "src-b", None)}]]
    assert reads == [] and result["sent"] == [] and result["decryptions"] == 0


def test_only_the_needed_value_is_read_and_sent_in_a_second_call():
    result, calls, reads = run([{"changed": True, "need": ["web/b"]}, {"changed": True, "need": []}])
    assert len(calls) == 2 and all("value" not in c for c in calls[0])
    assert [c.get("value") for c in calls[1]] == [None, base64.b64encode(b"B").decode()]
    assert reads == [b"B"] and result["sent"] == ["web/b"] and result["changed"]


def test_a_host_that_still_needs_a_value_fails():
    result, calls, reads = run([{"need": ["web/b"]}, {"need": ["web/a"]}])
    assert result["failed"] and "changed during this run (web/a)" in result["msg"]


def unkeyed_forms(value):
    digest = hashlib.sha256(value)
    return [digest.hexdigest(), digest.hexdigest()[:16], digest.hexdigest().upper(),
            base64.b64encode(digest.digest()).decode().rstrip("=")]


def test_the_result_carries_no_value_and_no_unkeyed_digest():
    values = {"db": b"hunter2", "token": b"\x00\xfftoken", "empty": b""}
    plugin, sent = action([{"changed": True, "need": ["web/%s" % n for n in values]}, {"changed": True, "need": []}])
    injected = [Injected("web", name, Value(data=value, source="src-" + name), None) for name, value in values.items()]
    ctx = Context(FakeStore())
    ctx.reasons = {"web/db": "created"}
    result = plugin._call_host({}, {"credential_directory": "/d", "key": "auto", "purge": True}, [{"name": "web"}], injected, {}, ctx, [], {})
    assert [c.get("value") for c in sent[-1]] == [base64.b64encode(v).decode() for v in values.values()]  # the values went
    assert "fingerprints" not in result
    text = json.dumps(result)
    for value in values.values():
        for form in unkeyed_forms(value):
            assert form not in text
        if value:
            assert base64.b64encode(value).decode() not in text
    assert result["generated"] == ["web/db"] and result["changed"] is True


class FakeLoader:
    def __init__(self, vault):
        self._vault = vault


def test_a_vault_encrypted_src_is_decrypted_on_first_use_only(tmp_path):
    vault = VaultLib([("default", VaultSecret(b"pw"))])
    src = tmp_path / "token.vault"
    src.write_bytes(vault.encrypt(b"s3cret"))
    plugin, dummy = action([])
    plugin._loader, plugin._find_needle = FakeLoader(vault), lambda dirname, needle: needle
    value = plugin._read_src(str(src), "microvm_instances.web.credentials.tok")
    assert plugin._src_decryptions == 0 and value.source() == hashlib.sha256(src.read_bytes()).hexdigest()
    assert value.get() == b"s3cret" and value.get() == b"s3cret" and plugin._src_decryptions == 1
