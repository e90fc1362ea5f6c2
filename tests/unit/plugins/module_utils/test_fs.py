from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import stat

import pytest

from ansible_collections.microvm.credentials.plugins.module_utils import _fs


def test_atomic_write_replaces_the_file_with_its_mode_and_group(tmp_path):
    path = tmp_path / "web.json"
    path.write_bytes(b"old")
    _fs.atomic_write(str(path), b"new", 0o640, os.getgid())
    assert path.read_bytes() == b"new" and stat.S_IMODE(path.stat().st_mode) == 0o640
    assert path.stat().st_gid == os.getgid() and os.listdir(str(tmp_path)) == ["web.json"]


def test_the_temporary_file_is_0600_named_for_its_file_and_synced(tmp_path, watched_writes):
    seen, synced = watched_writes
    _fs.atomic_write(str(tmp_path / "db.password.cred"), b"blob")
    (name, mode, data), = seen
    assert name.startswith(".db.password.cred.") and name.endswith(".tmp") and len(name) == len(".db.password.cred.") + 12
    assert mode == 0o600 and data == b"blob"
    assert synced == [False, True]  # the file before the rename, its directory after


def test_a_failed_rename_leaves_the_old_file_and_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "x"
    path.write_bytes(b"old")

    def fail(src, dst):
        raise OSError("no")
    monkeypatch.setattr(os, "rename", fail)
    with pytest.raises(OSError):
        _fs.atomic_write(str(path), b"new", prefix=".x.1234.")
    assert path.read_bytes() == b"old" and os.listdir(str(tmp_path)) == ["x"]


def test_a_temporary_file_name_may_carry_the_writers_pid(tmp_path):
    assert _fs.temp_prefix("/s/web/db.vault") == ".db.vault."
    assert _fs.temp_prefix("/s/.token-key", 4242) == ".token-key.4242."
