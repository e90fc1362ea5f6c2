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


def test_the_temporary_file_is_0600_named_for_its_file_and_synced(tmp_path, monkeypatch):
    seen, synced = [], []
    real_rename, real_fsync = os.rename, os.fsync

    def rename(src, dst):
        seen.append((os.path.basename(src), stat.S_IMODE(os.stat(src).st_mode), open(src, "rb").read()))
        real_rename(src, dst)

    def fsync(fd):
        synced.append(stat.S_ISDIR(os.fstat(fd).st_mode))
        real_fsync(fd)
    monkeypatch.setattr(os, "rename", rename)
    monkeypatch.setattr(os, "fsync", fsync)
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
