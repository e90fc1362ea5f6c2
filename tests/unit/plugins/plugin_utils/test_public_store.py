from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import stat

from ansible.parsing.vault import VaultSecret

from ansible_collections.microvm.credentials.plugins.plugin_utils._store.public import load_public, public_path, save_public
from ansible_collections.microvm.credentials.plugins.plugin_utils._store.vault import VaultStore


def test_a_public_half_is_the_one_atomic_write_named_for_the_sweep(tmp_path, watched_writes):
    renamed, synced = watched_writes
    assert save_public(str(tmp_path), "web", "ssh", b"ssh-ed25519 AAAA root@web")
    (name, mode, dummy), = renamed
    assert name.startswith(".ssh.pub.%d." % os.getpid()) and name.endswith(".tmp") and mode == 0o644
    assert synced == [False, True]  # the file before the rename, its directory after


def test_round_trip_layout_and_modes(tmp_path):
    root = str(tmp_path / "hv1")
    assert load_public(root, "web", "ssh") is None
    assert save_public(root, "web", "ssh", b"ssh-ed25519 AAAA root@web")
    path = public_path(root, "web", "ssh")
    assert path == str(tmp_path / "hv1" / "web" / "ssh.pub")
    assert open(path, "rb").read() == b"ssh-ed25519 AAAA root@web\n"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    assert load_public(root, "web", "ssh") == b"ssh-ed25519 AAAA root@web"
    assert os.listdir(os.path.dirname(path)) == ["ssh.pub"]


def test_unchanged_content_is_not_rewritten(tmp_path):
    root = str(tmp_path)
    assert save_public(root, "web", "cert", b"-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n")
    before = os.stat(public_path(root, "web", "cert")).st_ino
    assert not save_public(root, "web", "cert", b"-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----")
    assert os.stat(public_path(root, "web", "cert")).st_ino == before
    assert save_public(root, "web", "cert", b"other")
    assert load_public(root, "web", "cert") == b"other"


def test_beside_the_vault_file_and_a_dead_writers_leftover_is_swept(tmp_path):
    store = VaultStore(str(tmp_path), [("default", VaultSecret(b"pw"))])
    store.save("web", "ssh", b"private")
    save_public(str(tmp_path), "web", "ssh", b"public")
    assert sorted(os.listdir(str(tmp_path / "web"))) == ["ssh.pub", "ssh.vault"]
    leftover = tmp_path / "web" / (".ssh.pub.%d.abc_123.tmp" % 2 ** 22)  # above any pid_max
    leftover.write_bytes(b"x")  # named as save_public names its temporary files
    assert store.sweep() == [str(leftover)]
