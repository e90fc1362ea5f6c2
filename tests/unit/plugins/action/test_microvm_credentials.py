from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import json

import pytest
from ansible.errors import AnsibleActionFail
from ansible.parsing.vault import VaultLib, VaultSecret

from ansible_collections.microvm.credentials.plugins.action.microvm_credentials import ActionModule, Injected, _writes_pending
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


def action(answers, probed=True, probes=None):
    """The action with a fake host that gives ANSWERS in turn. PROBED: the host probe ran on its own
    before (a run that wrote the store); otherwise the first call asks for it. PROBES collects
    whether each call asked."""
    plugin = ActionModule.__new__(ActionModule)
    plugin._task, plugin._connection, plugin._src_decryptions = FakeTask(), FakeConnection(), 0
    plugin._probe = {} if probed else None
    calls = []

    def execute_module(module_name, module_args, task_vars):
        calls.append([dict(c) for c in module_args["_credentials"]])
        if probes is not None:
            probes.append(module_args.get("_probe"))
        return answers.pop(0)
    plugin._execute_module = execute_module
    return plugin, calls


def items():
    reads = []

    def loader(data):
        return lambda: reads.append(data) or data
    return [Injected("web", "a", Value(load=loader(b"A"), source="src-a"), None),
            Injected("web", "b", Value(load=loader(b"B"), source="src-b"), None)], reads


INSTANCES = [{"name": "web", "hypervisor": "qemu", "binary": None}]
ARGS = {"credential_directory": "/d", "key": "auto", "purge": True}


def run(answers, **kw):
    plugin, calls = action(answers, **kw)
    injected, reads = items()
    ctx = Context(FakeStore())
    result = plugin._call_host({}, ARGS, INSTANCES, injected, {}, ctx, [], {}, "microvm_instances")
    return result, calls, reads


def probe(tpm2="0", qemu="QEMU emulator version 7.2.22"):
    """The host probe's answers (module_utils/_host/probe.py) of a host with a managed /d."""
    return "".join("\t".join(fields) + "\n" for fields in (
        ("tpm2", "-", tpm2, "yes" if tpm2 == "0" else "no"), ("systemd-creds", "-", "found", "systemd 252 (252.39)"),
        ("qemu", "qemu-system-x86_64", "found", qemu), ("directory", "/d", "managed", "")))


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
    result = plugin._call_host({}, ARGS, INSTANCES, injected, {}, ctx, [], {}, "microvm_instances")
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


# Without a store write before it, the probe rides on the call with the tokens: a converge that
# changes nothing is one round trip, and the host only plans in that call.
def test_a_noop_run_is_one_call_that_probes_the_host():
    probes = []
    result, calls, reads = run([{"changed": False, "need": [], "probe": probe()}], probed=False, probes=probes)
    assert len(calls) == 1 and probes == [{"qemu-system-x86_64": "qemu"}]
    assert reads == [] and result["sent"] == [] and not result["changed"] and "probe" not in result


def test_after_a_probing_call_only_values_are_sent_and_the_host_applies():
    probes = []
    result, calls, reads = run([{"changed": True, "need": ["web/b"], "probe": probe()}, {"changed": True, "need": []}],
                               probed=False, probes=probes)
    assert probes == [{"qemu-system-x86_64": "qemu"}, None]  # the second call changes the host
    assert [c.get("value") for c in calls[1]] == [None, base64.b64encode(b"B").decode()]
    assert reads == [b"B"] and result["sent"] == ["web/b"]


def test_a_probing_call_that_planned_a_change_without_values_is_repeated_to_apply_it():
    probes = []
    result, calls, reads = run([{"changed": True, "need": [], "removed": ["web/old"], "probe": probe()},
                                {"changed": True, "need": [], "removed": ["web/old"]}], probed=False, probes=probes)
    assert probes == [{"qemu-system-x86_64": "qemu"}, None] and result["removed"] == ["web/old"] and reads == []


@pytest.mark.parametrize("answers,key,error", [
    (probe(tpm2="1"), "tpm2", "microvm_credential_key: 'tpm2' needs a TPM2 the host can use"),
    (probe(qemu="QEMU emulator version 7.1.0"), "auto", "microvm_instances.web.hypervisor: qemu-system-x86_64 on the host"),
])
def test_a_host_the_probe_finds_unfit_fails_before_any_change(answers, key, error):
    plugin, calls = action([{"changed": True, "need": ["web/a", "web/b"], "probe": answers}], probed=False)
    injected, reads = items()
    with pytest.raises(AnsibleActionFail, match=error.replace(".", "[.]")):
        plugin._call_host({}, dict(ARGS, key=key), INSTANCES, injected, {}, Context(FakeStore()), [], {}, "microvm_instances")
    assert len(calls) == 1 and reads == []  # no second call: nothing was sent, nothing changed


def test_a_host_module_that_answers_the_probe_only_fails():
    result, calls, reads = run([{"changed": False, "probe": probe()}], probed=False)
    assert result["failed"] and "which its probe did not report" in result["msg"]


class FakeSlot:
    def __init__(self, public):
        self.public = public

    def load_public(self):
        return self.public


def test_writes_pending_sees_new_secrets_rekeys_and_changed_public_halves():
    ctx = Context(FakeStore())
    assert not _writes_pending(ctx, [])
    ctx.publics = {"web/k": (FakeSlot(b"ssh-ed25519 AAAA"), b"ssh-ed25519 AAAA\n")}
    assert not _writes_pending(ctx, [])  # the public half is stored as it is
    assert _writes_pending(ctx, ["stale"])
    ctx.publics = {"web/k": (FakeSlot(None), b"ssh-ed25519 AAAA\n")}
    assert _writes_pending(ctx, [])
    ctx.publics, ctx.writes = {}, {"web/a": None}
    assert _writes_pending(ctx, [])
