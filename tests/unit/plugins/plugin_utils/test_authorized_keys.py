from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible.parsing.vault import VaultSecret

from ansible_collections.microvm.credentials.plugins.plugin_utils._generators import keypairs as _keypairs
from ansible_collections.microvm.credentials.plugins.plugin_utils._schema.instances import ConfigError, normalize_instances
from ansible_collections.microvm.credentials.plugins.plugin_utils._resolve import Context, persist, resolve
from ansible_collections.microvm.credentials.plugins.plugin_utils._store.location import secret_labels
from ansible_collections.microvm.credentials.plugins.plugin_utils._store.vault import VaultStore

PATH = "microvm_instances.web.credentials"
# A real key line, made once by the code that makes the ssh key pairs.
ALICE = _keypairs.ssh()[1].decode() + " alice@laptop"


def instance(credentials):
    return normalize_instances({"web": {"kernel": "/k", "credentials": credentials}})[0]


def creds(**extra):
    out = {
        "host-key": {"name": "ssh.ed25519-host-key", "inject_public": "ssh.ed25519-host-key.pub", "generate": {"type": "ssh"}},
        "admin": {"inject": False, "generate": {"type": "ssh", "comment": "admin"}},
        "login": {"name": "ssh.authorized_keys.root", "authorized_keys": ["admin", ALICE]},
    }
    out.update(extra)
    return out


def test_normalised_entries_and_no_vault_slot():
    web = instance(creds())
    login = [c for c in web["credentials"] if c["id"] == "login"][0]
    assert login["authorized_keys"] == [{"key_pair": "admin"}, {"key": ALICE}]
    assert login["name"] == "ssh.authorized_keys.root" and login["inject"] is True and "generate" not in login
    # Not a secret: nothing to rotate, nothing in the vault store.
    assert "web/login" not in secret_labels([web]) and "web/admin" in secret_labels([web])


def test_value_is_the_public_halves_and_keys_one_per_line(tmp_path):
    store = VaultStore(str(tmp_path), [("default", VaultSecret(b"pw"))])
    ctx = Context(store)
    res = resolve(instance(creds()), PATH, ctx)
    persist(ctx)
    assert res.values["login"] == res.public["admin"] + b"\n" + ALICE.encode() + b"\n"
    assert res.public["admin"].endswith(b" admin") and "login" not in res.new
    assert not (tmp_path / "web" / "login.vault").exists()
    # The next run builds the same value from the stored public half.
    again = resolve(instance(creds()), PATH, Context(store))
    assert again.values["login"] == res.values["login"]


@pytest.mark.parametrize("entries, path, message", [
    ([], "login.authorized_keys", "at least one"),
    ("admin", "login.authorized_keys", "must be a list"),
    ([None], "login.authorized_keys[0]", "OpenSSH public key line"),
    (["nope"], "login.authorized_keys[0]", "'nope' is not a credential of this instance with generate.type ssh"),
    (["host-key.pub"], "login.authorized_keys[0]", "generate.type ssh"),
    (["ssh-dss AAAAB3NzaC1kc3M= old"], "login.authorized_keys[0]", "OpenSSH public key line"),
    (['from="10.0.0.1" ' + ALICE], "login.authorized_keys[0]", "OpenSSH public key line"),
    (["ssh-rsa " + ALICE.split()[1]], "login.authorized_keys[0]", "its base64 part does not start with that type"),
    ([ALICE + "\nssh-ed25519 x"], "login.authorized_keys[0]", "OpenSSH public key line"),
])
def test_bad_entries_name_the_entry(entries, path, message):
    with pytest.raises(ConfigError) as exc:
        instance(creds(login={"name": "ssh.authorized_keys.root", "authorized_keys": entries}))
    assert str(exc.value).startswith("%s.%s: " % (PATH, path)) and message in str(exc.value)


def test_a_key_pair_that_is_not_ssh_is_refused():
    with pytest.raises(ConfigError, match=r"login.authorized_keys\[0\]: .*'wg'"):
        instance(creds(wg={"generate": {"type": "wireguard"}}, login={"authorized_keys": ["wg"]}))


@pytest.mark.parametrize("extra, message", [
    ({"generate": {"type": "hex"}}, r"set exactly one of generate, src or prompt \(or authorized_keys\)"),
    ({"max_age": "1d"}, "login.max_age: applies to generated or prompted credentials only"),
    ({"scope": "shared"}, "login.scope: shared needs generate or prompt"),
])
def test_authorized_keys_is_a_source_of_its_own(extra, message):
    login = {"authorized_keys": ["admin"]}
    login.update(extra)
    with pytest.raises(ConfigError, match=message):
        instance(creds(login=login))
