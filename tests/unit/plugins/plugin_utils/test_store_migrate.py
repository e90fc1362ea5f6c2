"""Moving a store between backends: real ansible-vault, real sops and age keys."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import subprocess

import pytest

from ansible.parsing.vault import VaultSecret

from ansible_collections.microvm.credentials.plugins.plugin_utils._store import sops as S
from ansible_collections.microvm.credentials.plugins.plugin_utils._store.backend import StoreError
from ansible_collections.microvm.credentials.plugins.plugin_utils._store.migrate import migrate, stored_entries
from ansible_collections.microvm.credentials.plugins.plugin_utils._store.store import Store
from ansible_collections.microvm.credentials.plugins.plugin_utils._store.vault import VaultBackend


def _tools():
    missing = [t for t in ("age-keygen",) if not shutil.which(t)] + ([] if S.find_binary() else ["sops"])
    if missing and os.environ.get("CI") == "true":
        pytest.fail("CI must have %s (make deps installs them)" % ", ".join(missing))
    return missing


pytestmark = pytest.mark.skipif(bool(_tools()), reason="sops or age-keygen missing: run make deps")

VALUES = {("web", "db"): b"\x00pw\n", ("web", "api"): b"token", (None, "cluster"): b"shared\xff"}


@pytest.fixture
def key(tmp_path, monkeypatch):
    path = tmp_path / "a.key"
    subprocess.run(["age-keygen", "-o", str(path)], check=True, capture_output=True)
    for var in ("SOPS_AGE_KEY", "SOPS_AGE_KEY_CMD", "SOPS_AGE_SSH_PRIVATE_KEY_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(path))
    return subprocess.run(["age-keygen", "-y", str(path)], check=True, capture_output=True, text=True).stdout.strip()


def stores(root, key):
    vault = Store(str(root), VaultBackend([("default", VaultSecret(b"pw"))]))
    sops = Store(str(root), S.SopsBackend({"age_recipients": [key]}))
    return vault, sops


def files(root):
    return sorted(os.path.relpath(os.path.join(d, f), str(root)) for d, dummy, fs in os.walk(str(root)) for f in fs)


def filled(root, key):
    vault, sops = stores(root, key)
    for (instance, cred), value in VALUES.items():
        vault.save(instance, cred, value)
        vault.save_meta(instance, cred, {"generator": "password", "rotated": "2026-01-31T12:00:00.000000Z"})
    (root / "web" / "db.pub").write_text("ssh-ed25519 AAAA\n")
    (root / ".token-key").write_text("0" * 64 + "\n")
    return vault, sops


def test_entries(tmp_path, key):
    filled(tmp_path, key)
    assert stored_entries(str(tmp_path), ".vault") == [(None, "cluster"), ("web", "api"), ("web", "db")]
    assert stored_entries(str(tmp_path / "none"), ".vault") == []


def test_vault_to_sops_and_back_values_unchanged(tmp_path, key):
    vault, sops = filled(tmp_path, key)
    before = files(tmp_path)
    planned = migrate(vault, sops, check_mode=True)
    assert [r["action"] for r in planned] == ["move"] * 3
    assert files(tmp_path) == before  # check mode changes nothing
    done = migrate(vault, sops)
    assert [(os.path.basename(r["old"]), os.path.basename(r["new"]), r["action"]) for r in done] == [
        ("cluster.vault", "cluster.sops", "moved"), ("api.vault", "api.sops", "moved"), ("db.vault", "db.sops", "moved")]
    assert files(tmp_path) == sorted(f.replace(".vault", ".sops") for f in before)
    for (instance, cred), value in VALUES.items():
        assert sops.load(instance, cred) == value
        assert sops.load_meta(instance, cred)["generator"] == "password"
    assert migrate(vault, sops) == []  # nothing left to move
    migrate(sops, vault)
    assert files(tmp_path) == before
    for (instance, cred), value in VALUES.items():
        assert vault.load(instance, cred) == value


def test_a_stopped_move_is_finished(tmp_path, key):
    vault, sops = filled(tmp_path, key)
    sops.save("web", "db", VALUES[("web", "db")])  # written, old not yet removed
    assert [r["action"] for r in migrate(vault, sops, check_mode=True)] == ["move", "move", "finish"]
    assert [r["action"] for r in migrate(vault, sops)] == ["moved", "moved", "finished"]
    assert not os.path.exists(vault.path("web", "db"))


def test_two_different_values_stop_before_anything_changes(tmp_path, key):
    vault, sops = filled(tmp_path, key)
    sops.save("web", "db", b"another value")
    before = files(tmp_path)
    with pytest.raises(StoreError, match=r"^microvm_credentials_store: both .*web/db\.vault and .*web/db\.sops exist "
                                         r"and hold different values"):
        migrate(vault, sops)
    assert files(tmp_path) == before


def test_an_unreadable_file_stops_before_anything_changes(tmp_path, key):
    vault, sops = filled(tmp_path, key)
    other = Store(str(tmp_path), VaultBackend([("default", VaultSecret(b"other"))]))
    other.save("web", "api", b"x")
    before = files(tmp_path)
    with pytest.raises(StoreError, match=r"cannot decrypt secret store file .*web/api\.vault"):
        migrate(vault, sops)
    assert files(tmp_path) == before


class _Garbling(S.SopsBackend):
    """Reads back something else: the move must keep the old file."""

    def decrypt(self, path, data):
        return b"garbled"


def test_a_file_that_does_not_read_back_keeps_the_old_one(tmp_path, key):
    vault, dummy = filled(tmp_path, key)
    bad = Store(str(tmp_path), _Garbling({"age_recipients": [key]}))
    with pytest.raises(StoreError, match=r"cluster\.sops did not read back as the value of .*cluster\.vault; the old file is kept"):
        migrate(vault, bad)
    assert os.path.exists(vault.path(None, "cluster")) and not os.path.exists(bad.path(None, "cluster"))


def test_a_target_this_operator_cannot_read_stops_before_anything_changes(tmp_path, key, monkeypatch):
    vault, dummy = filled(tmp_path, key)
    other = tmp_path / "b.key"
    subprocess.run(["age-keygen", "-o", str(other)], check=True, capture_output=True)
    stranger = subprocess.run(["age-keygen", "-y", str(other)], check=True, capture_output=True, text=True).stdout.strip()
    sops = Store(str(tmp_path), S.SopsBackend({"age_recipients": [stranger]}))
    before = files(tmp_path)
    written = os.stat(str(tmp_path)).st_mtime_ns  # a file made and removed again would change it
    with pytest.raises(StoreError, match=r"no age key of yours opens .*cluster\.sops: it is encrypted to " + stranger):
        migrate(vault, sops)
    assert files(tmp_path) == before
    assert os.stat(str(tmp_path)).st_mtime_ns == written
