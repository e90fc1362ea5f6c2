from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import json
import os

import pytest

from ansible.parsing.vault import VaultSecret

from ansible_collections.microvm.credentials.plugins.plugin_utils._generators import keypairs as _keypairs
from ansible_collections.microvm.credentials.plugins.plugin_utils._schema.instances import normalize_instances
from ansible_collections.microvm.credentials.plugins.plugin_utils._generators.registry import GenerateError
from ansible_collections.microvm.credentials.plugins.plugin_utils._store.public import load_public, public_path
from ansible_collections.microvm.credentials.plugins.plugin_utils._resolve import Context, Value, persist, resolve
from ansible_collections.microvm.credentials.plugins.plugin_utils._store.backend import StoreError
from ansible_collections.microvm.credentials.plugins.plugin_utils._store.vault import VaultStore

PATH = "microvm_instances.web.credentials"
CREDENTIALS = {
    "ca": {"inject": False, "generate": {"type": "ca", "days": 30}},
    "cert": {"name": "tls.crt", "generate": {"type": "tls", "dns": ["web"], "days": 10, "ca": "ca"}},
    "host": {"name": "ssh.key", "inject_public": "ssh.pub", "generate": {"type": "ssh", "comment": "root@web"}},
    "wg": {"generate": {"type": "wireguard"}},
    "pw": {"inject": False, "generate": {"type": "password"}},
    "hash": {"generate": {"type": "passlib", "password_of": "pw"}},
    # The token is made from the password: it follows it like the hash.
    "token": {"generate": {"type": "command", "argv": ["sh", "-c", 'printf "t-"; cat'], "inputs": ["pw"], "stdin": "pw"}},
    "pair": {"generate": {"type": "command", "argv": ["sh", "-c", 'printf s > "$out/key"; printf p > "$out/key.pub"'],
                          "output": "key", "public_output": "key.pub"}},
}


def instance(credentials=None):
    return normalize_instances({"web": {"kernel": "/k", "credentials": credentials or CREDENTIALS}})[0]


@pytest.fixture
def store(tmp_path):
    return VaultStore(str(tmp_path), [("default", VaultSecret(b"pw"))])


def run(store, rotated=(), inst=None):
    ctx = Context(store, rotated=lambda label: label in ["web/" + r for r in rotated], read_src=lambda src, path: b"from " + src.encode())
    res = resolve(inst or instance(), PATH, ctx)
    persist(ctx)
    return res


def test_first_run_generates_everything_in_dependency_order(store):
    res = run(store)
    assert res.new.index("ca") < res.new.index("cert") and res.new.index("pw") < res.new.index("hash") < res.new.index("token")
    assert sorted(res.new) == sorted(CREDENTIALS)
    assert res.values["token"] == b"t-" + res.values["pw"]
    assert res.values["pair"] == b"s" and res.public["pair"] == b"p"
    assert res.values["host.pub"] == res.public["host"] == _keypairs.ssh_public(res.values["host"], "root@web")
    assert base64.b64decode(res.public["wg"]) and sorted(res.public) == ["ca", "cert", "host", "pair", "wg"]


def test_inputs_are_stored_before_their_dependents(tmp_path):
    saved = []

    class Recording(VaultStore):
        def save(self, instance, cred_id, value):
            saved.append(cred_id)
            return VaultStore.save(self, instance, cred_id, value)

    run(Recording(str(tmp_path), [("default", VaultSecret(b"pw"))]))
    # A run killed part-way must never leave the hash stored without its password.
    assert saved.index("pw") < saved.index("hash") < saved.index("token") and saved.index("ca") < saved.index("cert")


def test_second_run_keeps_everything(store):
    first = run(store)
    second = run(store)
    assert second.new == [] and second.values == first.values and second.public == first.public


@pytest.mark.parametrize("rotated,expected", [
    (["pw"], ["pw", "hash", "token"]),
    (["ca"], ["ca", "cert"]),
    (["cert"], ["cert"]),
    (["host"], ["host"]),
])
def test_rotation_regenerates_dependents(store, rotated, expected):
    first = run(store)
    second = run(store, rotated)
    assert second.new == expected
    assert all(second.values[c] != first.values[c] for c in expected if c != "pair")


def test_rotation_replaces_an_unreadable_stored_value_without_reading_it(store):
    first = run(store)
    path = store.path("web", "pw")
    with open(path, "rb") as f:
        whole = f.read()
    with open(path, "wb") as f:
        f.write(whole[:len(whole) // 2])
    with pytest.raises(StoreError, match="cannot decrypt"):
        run(store)
    second = run(store, ["pw"])
    assert second.new == ["pw", "hash", "token"] and second.values["pw"] != first.values["pw"]


def test_lost_public_halves(store):
    first = run(store)
    for cred_id in ("host", "wg", "ca", "cert", "pair"):
        os.unlink(public_path(store.root, "web", cred_id))
    second = run(store)
    # Derived again from the keys; certificates issued again for the same keys; the command's pair made anew.
    assert second.new == ["pair"]
    assert second.public["host"] == first.public["host"] and second.public["wg"] == first.public["wg"]
    assert second.values["cert"] == first.values["cert"] and _keypairs.certificate_matches_key(second.public["cert"], first.values["cert"])
    assert load_public(store.root, "web", "cert") == second.public["cert"] and second.public["cert"].endswith(b"-----END CERTIFICATE-----")


def test_changed_sans_reissue_the_certificate_for_the_same_key(store):
    first = run(store)
    changed = dict(CREDENTIALS, cert={"generate": {"type": "tls", "dns": ["web", "www"], "days": 10, "ca": "ca"}})
    second = run(store, inst=instance(changed))
    assert second.new == [] and second.values["cert"] == first.values["cert"]
    assert _keypairs.certificate_names(second.public["cert"])[1] == ["web", "www"]


def test_a_stored_value_of_another_kind_is_an_error_not_a_silent_replacement(store):
    store.save("web", "host", b"deadbeef")
    with pytest.raises(GenerateError, match=r"^microvm_instances.web.credentials.host.generate: the stored value does not fit"):
        run(store)


def test_failing_command_names_the_credential_and_nothing_is_made(store):
    bad = dict(CREDENTIALS, token={"generate": {"type": "command", "argv": ["false"]}})
    with pytest.raises(GenerateError, match=r"^microvm_instances.web.credentials.token.generate: false exited with status 1"):
        run(store, inst=instance(bad))
    assert os.listdir(store.root) == []


def test_a_certificate_outliving_its_ca_names_the_credential(store):
    bad = dict(CREDENTIALS, cert={"generate": {"type": "tls", "days": 400, "ca": "ca"}})
    with pytest.raises(GenerateError, match=r"^microvm_instances.web.credentials.cert.generate: a certificate valid 400 days would outlive"):
        run(store, inst=instance(bad))


def test_a_run_that_changes_nothing_decrypts_nothing(store):
    first = run(store)
    store.decryptions = 0
    ctx = Context(store, read_src=lambda src, path: b"from " + src.encode())
    second = resolve(instance(), PATH, ctx)
    # Key pairs, hashes of passwords, commands made from inputs: all known to fit from the metadata.
    assert second.new == [] and store.decryptions == 0
    # The SMBIOS checks work from the recorded shapes.
    assert second.values.entry("hash").placeholder() == b"a" * len(first.values["hash"]) and store.decryptions == 0
    assert second.values["pw"] == first.values["pw"] and store.decryptions == 1


def test_a_changed_input_file_is_checked_by_decrypting(store):
    first = run(store)
    store.save("web", "pw", first.values["pw"])  # the same value encrypted anew (a rekey): another file
    store.decryptions = 0
    ctx = Context(store, read_src=lambda src, path: b"from " + src.encode())
    second = resolve(instance(), PATH, ctx)
    persist(ctx)
    assert second.new == [] and store.decryptions > 0
    store.decryptions = 0
    resolve(instance(), PATH, Context(store, read_src=lambda src, path: b"from " + src.encode()))
    assert store.decryptions == 0  # checked once, recorded


def test_a_value_made_but_not_written_has_a_source_no_host_holds(store):
    run(store)
    ctx = Context(store, rotated=lambda label: label == "web/wg", read_src=lambda src, path: b"from " + src.encode())
    res = resolve(instance(), PATH, ctx)  # check mode: nothing is persisted
    old = store.token("web", "wg")
    assert res.values.entry("wg").source() == "unwritten" and res.values.entry("pw").source() == store.token("web", "pw")
    persist(ctx)
    assert res.values.entry("wg").source() == store.token("web", "wg") != old


class EncryptedSrc:
    """read_src as the actions give it for a vault encrypted src file: a Value decrypted on first use (counted)."""

    def __init__(self, value, encrypted):
        self.value, self.encrypted, self.decryptions = value, encrypted, 0

    def __call__(self, src, path):
        def decrypt():
            self.decryptions += 1
            return self.value
        return Value(load=decrypt, source=hashlib.sha256(self.encrypted).hexdigest())


SRC = {"tok": {"name": "app.token", "src": "token.vault"}}


def resolve_src(store, read_src):
    """One run: the SMBIOS check's placeholder of the src credential, then persist (not in check mode)."""
    ctx = Context(store, read_src=read_src)
    res = resolve(instance(SRC), PATH, ctx)
    placeholder = res.values.entry("tok").placeholder()
    persist(ctx)
    return res, placeholder


def test_an_unchanged_encrypted_src_is_checked_without_decrypting(store):
    first = EncryptedSrc(b"s3cret", b"$ANSIBLE_VAULT;1.1;AES256\n6161")
    dummy, placeholder = resolve_src(store, first)
    assert first.decryptions == 1 and placeholder == b"a" * 6
    again = EncryptedSrc(b"s3cret", b"$ANSIBLE_VAULT;1.1;AES256\n6161")
    res, placeholder = resolve_src(store, again)
    assert again.decryptions == 0 and placeholder == b"a" * 6 and res.values.entry("tok").source() == hashlib.sha256(again.encrypted).hexdigest()
    # Recorded where the store keeps metadata, keyed: neither the value nor its plain digest.
    record = store.load_record("web", "tok")
    assert record["size"] == 6 and record["text"] is True and len(record["check"]) == 64
    assert b"s3cret" not in json.dumps(record).encode() and hashlib.sha256(b"s3cret").hexdigest() not in json.dumps(record)


def test_a_changed_encrypted_src_is_decrypted_and_checked_again(store):
    resolve_src(store, EncryptedSrc(b"s3cret", b"$ANSIBLE_VAULT;1.1;AES256\n6161"))
    changed = EncryptedSrc(b"\x00binary", b"$ANSIBLE_VAULT;1.1;AES256\n6262")
    dummy, placeholder = resolve_src(store, changed)
    assert changed.decryptions == 1 and placeholder == b"\x00" * 7
    again = EncryptedSrc(b"\x00binary", b"$ANSIBLE_VAULT;1.1;AES256\n6262")
    assert resolve_src(store, again)[1] == b"\x00" * 7 and again.decryptions == 0


def test_an_edited_src_record_is_not_believed(store):
    resolve_src(store, EncryptedSrc(b"s3cret", b"$ANSIBLE_VAULT;1.1;AES256\n6161"))
    record = store.load_record("web", "tok")
    store.save_meta("web", "tok", dict(record, size=1))
    again = EncryptedSrc(b"s3cret", b"$ANSIBLE_VAULT;1.1;AES256\n6161")
    assert resolve_src(store, again)[1] == b"a" * 6 and again.decryptions == 1


def test_a_src_record_is_written_only_when_the_value_was_decrypted(store):
    ctx = Context(store, read_src=EncryptedSrc(b"s3cret", b"$ANSIBLE_VAULT;1.1;AES256\n6161"))
    resolve(instance(SRC), PATH, ctx)
    persist(ctx)  # nothing asked for the value or its shape (not injected, say): nothing is known to record
    assert store.load_record("web", "tok") is None and os.listdir(store.root) == []
