from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

from ansible.errors import AnsibleError
from ansible.parsing.dataloader import DataLoader
from ansible.parsing.vault import VaultSecret
from ansible.plugins.loader import lookup_loader
from ansible import template
from ansible.template import Templar

from ansible_collections.microvm.credentials.plugins.plugin_utils._store.public import save_public
from ansible_collections.microvm.credentials.plugins.plugin_utils._store.vault import VaultStore


pytestmark = pytest.mark.usefixtures("collection_finder")


def lookup(name, terms, variables, password=None, **kwargs):
    loader = DataLoader()
    if password is not None:
        loader.set_vault_secrets([("default", VaultSecret(password))])
    plugin = lookup_loader.get("microvm.credentials." + name, loader=loader, templar=Templar(loader=loader))
    return plugin.run(terms, variables, **kwargs)


def inventory(tmp_path, **hv2_vars):
    """Variables as a task on hv1 sees them; hv2 may set its own store."""
    hostvars = {"hv1": {"inventory_dir": str(tmp_path)}, "hv2": dict({"inventory_dir": str(tmp_path)}, **hv2_vars)}
    return {"inventory_hostname": "hv1", "hostvars": hostvars, "playbook_dir": "/nonexistent"}


@pytest.fixture
def stores(tmp_path):
    default = tmp_path / ".microvm-credentials" / "hv1"
    save_public(str(default), "web", "ssh", b"ssh-ed25519 AAAA web\n")
    save_public(str(default), "web", "wg", b"d2c=")
    secrets = VaultStore(str(default), [("default", VaultSecret(b"pw"))])
    secrets.save("web", "password", b"p{{w}}d\n")
    secrets.save("web", "raw", b"\xff\x00")
    save_public(str(tmp_path / "elsewhere"), "db", "ssh", b"ssh-ed25519 BBBB db")
    return tmp_path


def test_public_of_the_current_host_without_vault_password(stores):
    assert lookup("public", ["web/ssh", "web/wg"], inventory(stores)) == ["ssh-ed25519 AAAA web", "d2c="]


def test_public_of_another_host_with_its_own_store(stores):
    variables = inventory(stores, microvm_credentials_store=str(stores / "elsewhere"))
    assert lookup("public", ["db/ssh"], variables, host="hv2") == ["ssh-ed25519 BBBB db"]


def test_public_with_explicit_store(stores):
    assert lookup("public", ["db/ssh"], {}, store=str(stores / "elsewhere")) == ["ssh-ed25519 BBBB db"]


@pytest.mark.parametrize("name,terms,kwargs,match", [
    ("public", ["web/password"], {}, "web/password: no public half at .*/web/password.pub"),
    ("public", ["web"], {}, "must be INSTANCE/CREDENTIAL_ID"),
    ("public", ["../x"], {}, "must be INSTANCE/CREDENTIAL_ID"),
    ("public", ["web/ssh"], {"host": "nope"}, "host 'nope' is not in the inventory"),
    ("secret", ["web/nope"], {}, "web/nope: no secret at .*/web/nope.vault"),
    ("secret", ["web/raw"], {}, "binary, not UTF-8 text; use encoding='base64'"),
])
def test_errors(stores, name, terms, kwargs, match):
    with pytest.raises(AnsibleError, match=match):
        lookup(name, terms, inventory(stores), password=b"pw", **kwargs)


def test_secret_text_and_base64(stores):
    assert lookup("secret", ["web/password"], inventory(stores), password=b"pw") == ["p{{w}}d\n"]
    assert lookup("secret", ["web/raw", "web/password"], inventory(stores), password=b"pw", encoding="base64") == ["/wA=", "cHt7d319ZAo="]


@pytest.mark.parametrize("password,match", [(None, "no vault secret was given"), (b"wrong", "cannot decrypt")])
def test_secret_needs_the_vault_password(stores, password, match):
    with pytest.raises(AnsibleError, match=match):
        lookup("secret", ["web/password"], inventory(stores), password=password)


def test_secret_is_never_templated(stores):
    loader = DataLoader()
    templar = Templar(loader=loader, variables={"pw": lookup("secret", ["web/password"], inventory(stores), password=b"pw")[0], "w": "X"})
    assert templar.template(template.trust_as_template("{{ pw }}")) == "p{{w}}d\n"


def test_a_relative_store_is_the_inventorys(stores):
    variables = inventory(stores, microvm_credentials_store="elsewhere")
    assert lookup("public", ["db/ssh"], variables, host="hv2") == ["ssh-ed25519 BBBB db"]
    assert lookup("public", ["db/ssh"], dict(variables, inventory_dir=str(stores)), store="elsewhere") == ["ssh-ed25519 BBBB db"]


@pytest.fixture
def shared(stores):
    root = stores / ".microvm-credentials-shared"
    VaultStore(str(root), [("default", VaultSecret(b"pw"))]).save(None, "cluster", b"token")
    save_public(str(root), None, "ca", b"-----BEGIN CERTIFICATE-----")
    return stores


def test_shared_terms_read_the_shared_store(shared):
    assert lookup("secret", ["shared:cluster"], inventory(shared), password=b"pw") == ["token"]
    assert lookup("public", ["shared:ca"], inventory(shared)) == ["-----BEGIN CERTIFICATE-----"]


def test_shared_store_of_another_host_and_explicit(shared):
    os.rename(str(shared / ".microvm-credentials-shared"), str(shared / "common"))
    variables = inventory(shared, microvm_credentials_shared_store="common")
    assert lookup("secret", ["shared:cluster"], variables, password=b"pw", host="hv2") == ["token"]
    assert lookup("public", ["shared:ca"], {}, shared_store=str(shared / "common")) == ["-----BEGIN CERTIFICATE-----"]


@pytest.mark.parametrize("term", ["shared:", "shared:../x", "shared:a/b"])
def test_bad_shared_terms(shared, term):
    with pytest.raises(AnsibleError, match="must be shared:NAME"):
        lookup("secret", [term], inventory(shared), password=b"pw")
