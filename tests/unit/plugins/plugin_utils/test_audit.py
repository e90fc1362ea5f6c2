from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import os
import subprocess

import pytest

from ansible_collections.microvm.credentials.plugins.plugin_utils import _audit
from ansible_collections.microvm.credentials.plugins.plugin_utils._generators.keypairs import ssh, tls, wireguard
from ansible_collections.microvm.credentials.plugins.plugin_utils._store.vault import VaultStore


def touch(path, mtime=None, data=b"x"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    if mtime is not None:
        os.utime(path, (mtime, mtime))


def test_times_come_from_the_metadata_else_the_files_mtimes(tmp_path):
    root = str(tmp_path)
    touch(os.path.join(root, "web", "db.vault"), 1000.5)
    touch(os.path.join(root, "web", "ssh.pub"), 2000.0)
    touch(os.path.join(root, "web", "tok.vault"), 5.0)
    touch(os.path.join(root, "web", "tok.meta"), data=b'{"created": "1970-01-01T00:16:40.000000Z", "rotated": "1970-01-01T00:33:20.000000Z"}')
    store = VaultStore(root, [])
    assert _audit.stored_times(store, "web", "db") == {"created": 1000.5, "rotated": 1000.5}
    assert _audit.stored_times(store, "web", "tok") == {"created": 1000.0, "rotated": 2000.0}
    assert _audit.stored_times(store, "web", "nope") is None
    assert _audit.public_times(root, "web", "ssh") == {"created": 2000.0, "rotated": 2000.0}
    assert _audit.age_days({"created": 0, "rotated": 1000.0}, now=1000.0 + 3 * 86400 + 8640) == 3.1
    assert _audit.age_days(None) is None


def test_secret_fingerprint_is_keyed_by_the_vault_secret_and_stable():
    key = _audit.fingerprint_key(b"vault password")
    assert key == _audit.fingerprint_key(b"vault password")
    fp = _audit.secret_fingerprint(key, b"hunter2")
    assert fp.startswith("hmac:") and len(fp) == 5 + 16
    assert fp == _audit.secret_fingerprint(key, b"hunter2")
    assert fp != _audit.secret_fingerprint(_audit.fingerprint_key(b"other password"), b"hunter2")
    # Not a plain hash of the value: a short password cannot be looked up from it.
    assert fp[5:] not in hashlib.sha256(b"hunter2").hexdigest()


def test_ssh_fingerprint_is_ssh_keygens(tmp_path):
    dummy, public = ssh(comment="root@web")
    path = tmp_path / "k.pub"
    path.write_bytes(public + b"\n")
    keygen = subprocess.run(["ssh-keygen", "-lf", str(path)], capture_output=True, text=True, check=True).stdout.split()[1]
    assert _audit.public_fingerprint("ssh", public) == keygen


def test_other_public_fingerprints():
    dummy, wg_public = wireguard()
    assert _audit.public_fingerprint("wireguard", wg_public) == "wg:" + wg_public.decode()
    dummy, pem = tls("web.example")
    der = base64.b64decode(b"".join(pem.split(b"-----")[2].split()))
    assert _audit.public_fingerprint("tls", pem) == "x509-sha256:" + hashlib.sha256(der).hexdigest()[:16]
    assert _audit.public_fingerprint("command", b"pub") == "sha256:" + hashlib.sha256(b"pub").hexdigest()[:16]


@pytest.fixture
def store(tmp_path):
    root = str(tmp_path / "hv1")
    for rel in ("web/db.vault", "web/db.meta", "web/ssh.vault", "web/ssh.pub", "web/old.vault", "web/old.meta", "gone/a.vault",
                "gone/a.meta", "gone/b.pub",
                "kept/c.vault", "kept/notes.txt", "web/.db.123.abc.tmp", ".hidden/x.vault"):
        touch(os.path.join(root, rel))
    os.symlink("/nonexistent", os.path.join(root, "link"))
    return root


CONFIGURED = {"web": {"db", "ssh"}}


def test_orphans_are_unclaimed_instances_and_credentials(store):
    assert _audit.orphans(store, CONFIGURED) == [("gone", "a"), ("gone", "b"), ("kept", "c"), ("web", "old")]
    assert _audit.orphan_labels(store, CONFIGURED) == ["gone/*", "kept/*", "web/old"]
    assert _audit.orphans(store, {"web": {"db", "ssh", "old"}, "gone": {"a", "b"}, "kept": {"c"}}) == []
    assert _audit.orphans(os.path.join(store, "absent"), CONFIGURED) == []


def test_prune_removes_only_known_files_and_emptied_directories(store):
    assert _audit.prune_paths(store, CONFIGURED) == [
        os.path.join(store, "gone", "a.meta"), os.path.join(store, "gone", "a.vault"), os.path.join(store, "gone", "b.pub"),
        os.path.join(store, "kept", "c.vault"), os.path.join(store, "web", "old.meta"), os.path.join(store, "web", "old.vault"),
        os.path.join(store, "gone"),  # kept/ also holds notes.txt: it stays
    ]


def test_join_host_and_table():
    rows = [_audit.row("web", "db", "db.password", "password", {"created": 0.0, "rotated": 86400.0}, "hmac:00", now=2 * 86400.0),
            _audit.row("web", "hidden", None, "password", None, None)]
    host = [{"instance": "web", "name": "db.password", "host": "in-sync", "restart_pending": True},
            {"instance": "web", "name": "stale", "host": "host-only", "restart_pending": False}]
    joined = _audit.ordered(_audit.join_host(rows, host))
    assert [(r["id"], r["name"], r["host"], r["orphaned"]) for r in joined] == [
        ("db", "db.password", "in-sync", False), ("hidden", None, None, False), (None, "stale", "host-only", True)]
    assert joined[0]["restart_pending"] is True and joined[0]["age_days"] == 1.0
    lines = _audit.table(joined)
    assert lines[0].split()[:2] == ["INSTANCE", "CREDENTIAL"]
    assert lines[1].split() == ["web", "db", "password", "1970-01-01", "00:00", "1970-01-02", "00:00", "1d", "hmac:00",
                                "in-sync", "pending"]
    assert lines[3].split()[:3] == ["web", "(stale)", "[orphaned]"]
    assert len(set(len(line.split("hmac:")[0]) for line in lines[1:2] + [lines[0].replace("FINGERPRINT", "hmac:")])) == 1
