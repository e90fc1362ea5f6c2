from __future__ import absolute_import, division, print_function

__metaclass__ = type

import binascii
import hashlib
import hmac

from ansible.parsing.vault import VaultSecret

from ansible_collections.microvm.credentials.plugins.action.microvm_credentials_info import ActionModule
from ansible_collections.microvm.credentials.plugins.plugin_utils import _audit
from ansible_collections.microvm.credentials.plugins.plugin_utils._schema.instances import normalize_instances
from ansible_collections.microvm.credentials.plugins.plugin_utils._generators.keypairs import ssh
from ansible_collections.microvm.credentials.plugins.plugin_utils._generators.ssh import ssh_fingerprint
from ansible_collections.microvm.credentials.plugins.plugin_utils._store.public import save_public
from ansible_collections.microvm.credentials.plugins.plugin_utils._resolve import Value, host_token
from ansible_collections.microvm.credentials.plugins.plugin_utils._store.vault import VaultStore

SECRETS = [("default", VaultSecret(b"vault password"))]
TOKEN_KEY = b"t" * 32


class FakeVault:
    secrets = SECRETS


class FakeLoader:
    _vault = FakeVault()


def action():
    plugin = ActionModule.__new__(ActionModule)  # only the controller half is exercised
    plugin._loader = FakeLoader()
    plugin._read_src = lambda src, path: Value(data=b"from " + src.encode(), source="src-" + src)
    return plugin


def instances():
    return normalize_instances({"web": {"kernel": "/k", "credentials": {
        "db": {"name": "db.password", "generate": {"type": "password"}},
        "hidden": {"inject": False, "generate": {"type": "password"}},
        "later": {"generate": {"type": "hex"}},
        "key": {"name": "ssh.key", "inject_public": "ssh.pub", "generate": {"type": "ssh"}},
        "cert": {"src": "cert.pem"},
    }}})


def test_rows_and_digests_never_carry_a_value(tmp_path):
    store = VaultStore(str(tmp_path), SECRETS)
    private, public = ssh()
    store.save("web", "db", b"hunter2")
    store.save("web", "hidden", b"hidden-pw")
    store.save("web", "key", private)
    save_public(str(tmp_path), "web", "key", public)
    rows, expected = action()._controller(instances(), (store, None), TOKEN_KEY, "microvm_instances")
    by_id = dict((r["id"], r) for r in rows)
    assert sorted(by_id) == ["cert", "db", "hidden", "key", "key.pub", "later"]
    fp_key = _audit.fingerprint_key(b"vault password")
    assert by_id["db"]["fingerprint"] == _audit.secret_fingerprint(fp_key, b"hunter2")
    assert by_id["db"]["generator"] == "password" and by_id["db"]["rotated"] is not None
    assert by_id["key"]["fingerprint"] == by_id["key.pub"]["fingerprint"] == ssh_fingerprint(public)
    assert by_id["key.pub"]["generator"] == "public"
    assert by_id["cert"]["generator"] == "src" and by_id["cert"]["rotated"] is None
    assert by_id["hidden"]["host"] == "not-injected" and by_id["hidden"]["name"] is None
    assert by_id["later"]["host"] == "not-stored" and by_id["later"]["fingerprint"] is None
    # The tokens a converge sends: of the encrypted files and public halves, never of a value.
    assert expected == [
        {"instance": "web", "name": "cert", "token": host_token(TOKEN_KEY, "src-cert.pem", None)},
        {"instance": "web", "name": "db.password", "token": host_token(TOKEN_KEY, store.token("web", "db"), None)},
        {"instance": "web", "name": "ssh.key", "token": host_token(TOKEN_KEY, store.token("web", "key"), None)},
        {"instance": "web", "name": "ssh.pub", "token": host_token(TOKEN_KEY, hashlib.sha256(public).hexdigest(), None)},
    ]
    text = repr(rows) + repr(expected)
    for value in (b"hunter2", b"hidden-pw", private):
        assert value.decode() not in text and binascii.hexlify(value).decode() not in text


def test_orphan_rows(tmp_path):
    store = VaultStore(str(tmp_path), SECRETS)
    store.save("gone", "old", b"x")
    rows = action()._orphan_rows(store, {"web": {"db"}})
    assert [(r["instance"], r["id"], r["orphaned"], r["fingerprint"]) for r in rows] == [("gone", "old", True, None)]
    assert rows[0]["rotated"] is not None


class FakeConnection:
    transport = "ssh"
    has_pipelining = True
    become = None


def test_the_host_gets_its_view_only():
    plugin = action()
    plugin._connection = FakeConnection()
    sent = {}

    def execute_module(module_name, module_args, task_vars):
        sent.update(module_name=module_name, module_args=module_args)
        return {}

    plugin._execute_module = execute_module
    args = {"credential_directory": "/var/lib/microvm-credentials", "key": "host", "store": "/srv/store"}
    expected = [{"instance": "web", "name": "db.password", "token": host_token(TOKEN_KEY, "x", None)}]
    plugin._host(args, instances(), expected, {})
    assert sent == {"module_name": "microvm.credentials.microvm_credentials_info_host", "module_args": {
        "credential_directory": "/var/lib/microvm-credentials", "key": "host", "_instances": ["web"], "_expected": expected}}


def test_report_digests_under_the_report_key_option(tmp_path):
    store = VaultStore(str(tmp_path), SECRETS)
    private, public = ssh()
    store.save("web", "db", b"hunter2")
    store.save("web", "hidden", b"hidden-pw")
    store.save("web", "key", private)
    store.save("web", "rk", b"report key")
    save_public(str(tmp_path), "web", "key", public)
    configured = instances()
    configured[0]["credentials"].append(normalize_instances({"web": {"kernel": "/k", "credentials": {
        "rk": {"name": "report.key", "generate": {"type": "hex"}}}}})[0]["credentials"][0])
    rows, dummy = action()._controller(configured, (store, None), TOKEN_KEY, "microvm_instances", "report.key")
    by_id = dict((r["id"], r["report_digest"]) for r in rows)

    def keyed(value):
        return hmac.new(b"report key", value, hashlib.sha256).hexdigest()

    assert by_id == {"db": keyed(b"hunter2"), "hidden": None, "later": None, "key": keyed(private), "key.pub": keyed(public),
                     "cert": keyed(b"from cert.pem"), "rk": None}
    rows, dummy = action()._controller(instances(), (store, None), TOKEN_KEY, "microvm_instances")
    assert set(r["report_digest"] for r in rows) == {None}


def test_authorized_keys_row_is_built_from_the_stored_public_halves(tmp_path):
    store = VaultStore(str(tmp_path), SECRETS)
    line = ssh()[1].decode() + " alice"
    inst = normalize_instances({"web": {"kernel": "/k", "credentials": {
        "admin": {"inject": False, "generate": {"type": "ssh"}},
        "keys": {"name": "ssh.authorized_keys.root", "authorized_keys": ["admin", line]},
    }}})
    rows, expected = action()._controller(inst, (store, None), TOKEN_KEY, "microvm_instances")
    assert dict((r["id"], r["host"]) for r in rows)["keys"] == "not-stored"  # admin's public half is not there yet
    private, public = ssh()
    store.save("web", "admin", private)
    save_public(str(tmp_path), "web", "admin", public)
    rows, expected = action()._controller(inst, (store, None), TOKEN_KEY, "microvm_instances")
    row = dict((r["id"], r) for r in rows)["keys"]
    value = public + b"\n" + line.encode() + b"\n"
    assert row["generator"] == "authorized_keys" and row["rotated"] is None
    assert row["fingerprint"] == _audit.secret_fingerprint(_audit.fingerprint_key(b"vault password"), value)
    assert expected == [{"instance": "web", "name": "ssh.authorized_keys.root",
                         "token": host_token(TOKEN_KEY, hashlib.sha256(value).hexdigest(), None)}]
