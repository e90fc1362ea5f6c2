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


def test_replacing_a_secret_is_atomic_and_leaves_no_temporary_file(tmp_path):
    store = VaultStore(str(tmp_path), secrets())
    store.save("web", "db", b"old")
    store.save("web", "db", b"new")
    assert store.load("web", "db") == b"new"
    assert os.listdir(str(tmp_path / "web")) == ["db.vault"]
    assert stat.S_IMODE(os.stat(str(tmp_path / "web" / "db.vault")).st_mode) == 0o600


def test_sweep_removes_only_dead_runs_leftovers(tmp_path):
    import subprocess
    store = VaultStore(str(tmp_path), secrets())
    store.save("web", "db", b"x")
    dead = subprocess.Popen(["true"])
    dead.wait()
    (tmp_path / "web" / (".db.%d.abc123.tmp" % dead.pid)).write_bytes(b"partial")
    (tmp_path / "web" / (".db.%d.def456.tmp" % os.getpid())).write_bytes(b"in flight")
    removed = store.sweep()
    assert [os.path.basename(r) for r in removed] == [".db.%d.abc123.tmp" % dead.pid]
    assert sorted(os.listdir(str(tmp_path / "web"))) == [".db.%d.def456.tmp" % os.getpid(), "db.vault"]
