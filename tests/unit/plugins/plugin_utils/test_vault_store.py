from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import errno
import os
import stat
import tempfile

import pytest

from ansible.parsing.vault import VaultSecret

from ansible_collections.microvm.credentials.plugins.plugin_utils._store.backend import StoreError
from ansible_collections.microvm.credentials.plugins.plugin_utils._store.store import _TIME_FORMAT, format_time, parse_time, resolve_store_path
from ansible_collections.microvm.credentials.plugins.plugin_utils._store.vault import VaultStore


def secrets(password=b"pw"):
    return [("default", VaultSecret(password))]


def test_a_save_is_the_one_atomic_write_named_for_the_sweep(tmp_path, watched_writes):
    store = VaultStore(str(tmp_path / "host"), secrets())
    renamed, synced = watched_writes
    store.save("web", "db", b"x")
    (name, mode, dummy), = renamed
    assert name.startswith(".db.vault.%d." % os.getpid()) and name.endswith(".tmp") and mode == 0o600
    assert synced == [False, True]  # the file before the rename, its directory after


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


def test_errors_name_the_store_variable(tmp_path):
    VaultStore(str(tmp_path), secrets()).save("web", "db", b"x")
    with pytest.raises(StoreError, match="^my_store: cannot decrypt"):
        VaultStore(str(tmp_path), secrets(b"other"), var_name="my_store").load("web", "db")


@pytest.mark.parametrize("err", [errno.EROFS, errno.EACCES, errno.ENOSPC])
def test_os_errors_while_saving_name_the_variable_and_the_path(tmp_path, monkeypatch, err):
    store = VaultStore(str(tmp_path / "store"), secrets())

    def fail(*args, **kwargs):
        raise OSError(err, os.strerror(err))

    monkeypatch.setattr(os, "fsync" if err == errno.ENOSPC else "rename", fail)
    with pytest.raises(StoreError) as exc:
        store.save("web", "db", b"x")
    message = str(exc.value)
    assert message.startswith("microvm_credentials_store: cannot write secret store file %s: " % store.path("web", "db"))
    assert os.strerror(err) in message
    assert os.listdir(str(tmp_path / "store" / "web")) == []  # the temporary file is gone


def test_unwritable_store_directory_names_the_variable(tmp_path, monkeypatch):
    store = VaultStore(str(tmp_path / "store"), secrets())

    def fail(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(tempfile, "mkstemp", fail)
    with pytest.raises(StoreError, match="^microvm_credentials_store: cannot write secret store file .*Read-only file system"):
        store.save("web", "db", b"x")


def test_cannot_create_store_directory(tmp_path):
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(StoreError, match="^microvm_credentials_store: cannot create secret store directory"):
        VaultStore(str(tmp_path / "file" / "store"), secrets()).save("web", "db", b"x")


@pytest.mark.parametrize("store,expected", [
    ("/abs/store", "/abs/store"),
    ("rel/store", "/inv/rel/store"),
    (".microvm-credentials/h", "/inv/.microvm-credentials/h"),
    ("../store/", "/store"),
    ("/abs//store/", "/abs/store"),
])
def test_relative_store_is_resolved_against_the_given_directory(store, expected):
    assert resolve_store_path(store, "/inv") == expected


def test_store_in_home_directory():
    assert resolve_store_path("~/store", "/inv") == os.path.join(os.path.expanduser("~"), "store")


def test_relative_store_without_a_base_directory_is_an_error():
    with pytest.raises(StoreError, match="^microvm_credentials_store: 'rel' is relative"):
        resolve_store_path("rel", None)


def test_shared_secrets_have_no_instance_level_and_metadata_is_plain_json(tmp_path):
    store = VaultStore(str(tmp_path), [("default", VaultSecret(b"pw"))])
    store.save(None, "cluster", b"v")
    store.save_meta(None, "cluster", {"generator": "hex", "rotated": "2026-01-01T00:00:00.000000Z"})
    assert sorted(os.listdir(str(tmp_path))) == ["cluster.meta", "cluster.vault"]
    assert store.load(None, "cluster") == b"v"
    assert store.load_meta(None, "cluster") == {"generator": "hex", "rotated": "2026-01-01T00:00:00.000000Z", "version": 1}


def test_metadata_that_is_not_json_counts_as_missing(tmp_path):
    store = VaultStore(str(tmp_path), [("default", VaultSecret(b"pw"))])
    assert store.load_meta("web", "a") is None
    store.save("web", "a", b"v")
    (tmp_path / "web" / "a.meta").write_text("{not json")
    assert store.load_meta("web", "a")["estimated"] is True


def test_a_wrong_vault_password_is_told_by_the_hmac_without_decrypting(tmp_path):
    store = VaultStore(str(tmp_path), secrets())
    store.save("web", "db", b"value")
    data = store.encrypted("web", "db")
    store.backend.verify_key(store.path("web", "db"), data)  # the right password: nothing to say
    wrong = VaultStore(str(tmp_path), secrets(b"other"))
    with pytest.raises(StoreError, match="cannot decrypt secret store file .*no vault secret given opens it"):
        wrong.backend.verify_key(wrong.path("web", "db"), data)
    assert store.decryptions == wrong.decryptions == 0


@pytest.mark.parametrize("text", [
    "2026-12-07T21:00:00.123456Z", "2026-1-5T1:2:3.4Z", "2024-02-29T23:59:59.999999Z", "2026-02-30T00:00:00.000000Z",
    "2026-12-07T24:00:00.000000Z", "2026-12-07T21:00:60.000000Z", "2026-12-07T21:00:00Z", "2026-12-07T21:00:00.1234567Z",
    "2026-12-07 21:00:00.123456Z", " 2026-12-07T21:00:00.123456Z", "2026-12-07T21:00:00.123456", "", "x", None, 5,
])
def test_metadata_times_read_as_strptime_reads_them(text):
    try:
        expected = datetime.datetime.strptime(text, _TIME_FORMAT).replace(tzinfo=datetime.timezone.utc)
    except (TypeError, ValueError):
        expected = None
    assert parse_time(text) == expected


def test_a_written_time_reads_back():
    when = datetime.datetime(2026, 12, 7, 21, 0, 0, 120, tzinfo=datetime.timezone.utc)
    assert format_time(when) == "2026-12-07T21:00:00.000120Z" and parse_time(format_time(when)) == when
