from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import stat

import pytest

from ansible.parsing.vault import VaultSecret

from ansible_collections.microvm.credentials.plugins.plugin_utils._vault_store import StoreError, VaultStore


def secrets(password=b"pw"):
    return [("default", VaultSecret(password))]


def test_round_trip_modes_and_layout(tmp_path):
    store = VaultStore(str(tmp_path / "host"), secrets())
    assert store.load("web", "db") is None
    path = store.save("web", "db", b"\x00binary\xff")
    assert path == str(tmp_path / "host" / "web" / "db.vault")
    assert open(path, "rb").read().startswith(b"$ANSIBLE_VAULT;")
    assert b"binary" not in open(path, "rb").read()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    assert store.load("web", "db") == b"\x00binary\xff"
    assert os.listdir(os.path.dirname(path)) == ["db.vault"]  # no temporary file left


def test_wrong_password_fails_loudly(tmp_path):
    VaultStore(str(tmp_path), secrets()).save("web", "db", b"x")
    with pytest.raises(StoreError, match="never regenerated"):
        VaultStore(str(tmp_path), secrets(b"other")).load("web", "db")


def test_plaintext_file_is_refused(tmp_path):
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "db.vault").write_bytes(b"plain")
    with pytest.raises(StoreError, match="not ansible-vault encrypted"):
        VaultStore(str(tmp_path), secrets()).load("web", "db")


def test_no_vault_secret(tmp_path):
    with pytest.raises(StoreError, match="vault-password-file"):
        VaultStore(str(tmp_path), []).save("web", "db", b"x")
