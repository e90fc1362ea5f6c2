from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import stat

import pytest

from ansible_collections.microvm.credentials.plugins.module_utils._host.credstore import (
    MANIFEST,
    TEMP_RE,
    CredStoreError,
    atomic_write,
    diff_lines,
    directory_state,
    encrypt_argv,
    entry,
    foreign_targets,
    load_manifest,
    make_directory,
    manifest_after,
    manifest_before,
    new_manifest,
    ownership_error,
    plan,
    remove_owned,
    save_manifest,
    stale_temp_files,
)


def held(key, token, sha="f"):
    return entry(key, token, sha)


def test_plan_writes_new_and_changed_keeps_equal_removes_stale():
    desired = {"web": {"a": "t1", "b": "t2", "c": "t3"}, "db": {}}
    owned = {"web": {"a": held("host", "t1"), "b": held("host", "old-token"), "old": held("host", "t")}, "db": {"gone": held("host", "t")}}
    changes = plan(desired, owned, "host", lambda i, n: "f")
    assert changes == {"write": [("web", "b"), ("web", "c")], "rekey": [], "remove": [("db", "gone"), ("web", "old")], "tampered": []}


def test_a_file_changed_or_deleted_on_the_host_is_rewritten():
    owned = {"web": {"a": held("auto", "t"), "b": held("auto", "t"), "c": held("auto", "t", None)}}
    files = {"a": "other", "b": None}
    changes = plan({"web": {"a": "t", "b": "t", "c": "t"}}, owned, "auto", lambda i, n: files.get(n, "f"))
    assert changes["write"] == changes["tampered"] == [("web", "a"), ("web", "b"), ("web", "c")] and changes["rekey"] == []


def test_a_changed_key_rewrites_every_credential():
    owned = {"web": {"a": held("host", "t"), "b": held(None, "t")}, "db": {"c": held("host", "t")}}
    changes = plan({"web": {"a": "t", "b": "t"}, "db": {"c": "t"}}, owned, "auto", lambda i, n: "f")
    assert changes["write"] == changes["rekey"] == [("db", "c"), ("web", "a"), ("web", "b")]


def test_instances_no_longer_configured_lose_everything():
    owned = {"web": {"a": held("auto", "t")}, "old": {"x": held("auto", "t"), "y": held("auto", "t")}}
    changes = plan({"web": {"a": "t"}}, owned, "auto", lambda i, n: "f")
    assert changes == {"write": [], "rekey": [], "remove": [("old", "x"), ("old", "y")], "tampered": []}


def test_a_version_1_manifest_is_read_with_unknown_tokens(tmp_path):
    (tmp_path / MANIFEST).write_text(json.dumps({"version": 1, "directory_created": True, "instances": {"web": {"a": "host", "b": None}}}))
    manifest = load_manifest(str(tmp_path))
    assert manifest["version"] == 2 and manifest["instances"] == {"web": {"a": entry("host"), "b": entry()}}
    # Unknown tokens: every file is written once more, then recorded with its token.
    assert plan({"web": {"a": "t", "b": "t"}}, manifest["instances"], "host", lambda i, n: "f")["write"] == [("web", "a"), ("web", "b")]


def test_argv_never_holds_the_value():
    assert encrypt_argv("systemd-creds", "db.password", "host") == [
        "systemd-creds", "encrypt", "--name=db.password", "--with-key=host", "-", "-"]
    assert encrypt_argv("systemd-creds", "n", "host", "@1900000000") == [
        "systemd-creds", "encrypt", "--name=n", "--with-key=host", "--not-after=@1900000000", "-", "-"]


def test_diff_names_only():
    changes = {"write": [("web", "a"), ("web", "k")], "rekey": [("web", "k")], "remove": [("web", "z")], "tampered": []}
    diff = diff_lines({"web": {"a": b"SECRET", "b": b"SECRET2", "k": b"SECRET3"}}, changes, "host")
    text = diff["before"] + diff["after"]
    assert "SECRET" not in text
    assert "web/a: encrypted (new value)" in diff["after"] and "web/z: present" in diff["before"]
    assert "web/k: sealed with another key" in diff["before"] and "web/k: sealed with key host" in diff["after"]


@pytest.mark.parametrize("setup,state", [
    (lambda d: None, "absent"),
    (lambda d: d.mkdir(), "empty"),
    (lambda d: (d.mkdir(), (d / MANIFEST).write_text("{}")), "managed"),
    (lambda d: d.write_text("x"), "not-a-directory"),
])
def test_directory_state(tmp_path, setup, state):
    d = tmp_path / "creds"
    setup(d)
    assert directory_state(str(d)) == (state, None)
    assert (ownership_error(str(d), state, None) is None) == (state != "not-a-directory")


def test_a_directory_with_foreign_content_is_refused_naming_a_file(tmp_path):
    (tmp_path / "otherapp" / "empty").mkdir(parents=True)
    (tmp_path / "otherapp" / "keep.cred").write_text("x")
    state, example = directory_state(str(tmp_path))
    assert (state, example) == ("foreign", str(tmp_path / "otherapp" / "keep.cred"))
    error = ownership_error(str(tmp_path), state, example)
    assert error.startswith("microvm_credential_directory: %s " % tmp_path) and example in error


def test_foreign_empty_subdirectory_is_an_example_too(tmp_path):
    (tmp_path / "sub").mkdir()
    assert directory_state(str(tmp_path)) == ("foreign", str(tmp_path / "sub"))


def test_manifest_round_trip_is_0600(tmp_path):
    manifest = new_manifest(directory_created=True)
    manifest["instances"]["web"] = {"a": entry("host", "t", "f")}
    save_manifest(str(tmp_path), manifest)
    assert load_manifest(str(tmp_path)) == manifest
    assert stat.S_IMODE(os.stat(str(tmp_path / MANIFEST)).st_mode) == 0o600
    assert os.listdir(str(tmp_path)) == [MANIFEST]


@pytest.mark.parametrize("content", ["not json", "[]", json.dumps({"version": 3, "instances": {}}),
                                     json.dumps({"version": 1, "instances": {"web": []}})])
def test_a_manifest_this_collection_did_not_write_is_refused(tmp_path, content):
    (tmp_path / MANIFEST).write_text(content)
    with pytest.raises(CredStoreError, match="^microvm_credential_directory: "):
        load_manifest(str(tmp_path))


def test_manifest_lists_files_before_they_are_written_and_records_key_token_and_digest_after():
    old = entry("host", "t0", "f0")
    manifest = {"version": 2, "directory_created": True, "instances": {"web": {"a": old, "old": old}, "gone": {"x": old}}}
    changes = {"write": [("web", "a"), ("new", "b")], "rekey": [("web", "a")], "remove": [("web", "old"), ("gone", "x")], "tampered": []}
    before = manifest_before(manifest, changes)
    assert before["instances"] == {"web": {"a": entry(), "old": old}, "new": {"b": entry()}, "gone": {"x": old}}
    after = manifest_after(manifest, changes, "auto", ["gone"], {("web", "a"): "ta", ("new", "b"): "tb"}, {("web", "a"): "fa", ("new", "b"): "fb"})
    assert after["instances"] == {"web": {"a": entry("auto", "ta", "fa")}, "new": {"b": entry("auto", "tb", "fb")}}
    assert manifest["instances"]["web"] == {"a": old, "old": old}, "the input is not modified"


def test_foreign_targets(tmp_path):
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "stray.cred").write_text("x")
    (tmp_path / "other").mkdir()
    owned = {"web": {"a": "host"}}
    writes = [("web", "a"), ("web", "stray"), ("web", "fresh"), ("other", "b"), ("new", "c")]
    assert foreign_targets(str(tmp_path), owned, writes) == [str(tmp_path / "web" / "stray.cred"), str(tmp_path / "other")]


@pytest.mark.parametrize("name,match", [
    (".x.cred.abcdefgh.tmp", True),
    (".db.password.cred.a_b1c2d3.tmp", True),
    (".microvm-credentials.json.abcdefgh.tmp", True),
    (".x.cred.abcdefg.tmp", False),
    (".x.cred.ABCDEFGH.tmp", False),
    ("x.cred.abcdefgh.tmp", False),
    (".x.abcdefgh.tmp", False),
    (".x.cred.abcdefgh.tmp\n", False),
])
def test_temp_name_pattern(name, match):
    assert bool(TEMP_RE.match(name)) == match


def test_atomic_write_uses_the_decided_temp_name(tmp_path, monkeypatch):
    seen = []
    real_rename = os.rename

    def rename(src, dst):
        seen.append((os.path.basename(src), stat.S_IMODE(os.stat(src).st_mode)))
        real_rename(src, dst)
    monkeypatch.setattr(os, "rename", rename)
    atomic_write(str(tmp_path / "db.password.cred"), b"blob")
    (name, mode), = seen
    assert TEMP_RE.match(name) and name.startswith(".db.password.cred.") and len(name) == len("db.password") + 19
    assert mode == 0o600
    assert (tmp_path / "db.password.cred").read_bytes() == b"blob" and os.listdir(str(tmp_path)) == ["db.password.cred"]


def test_stale_temp_files_only_in_own_directories(tmp_path):
    for d in ("web", "foreign"):
        (tmp_path / d).mkdir()
    for path in ("web/.a.cred.abcdefgh.tmp", "web/a.cred", "foreign/.b.cred.abcdefgh.tmp",
                 ".microvm-credentials.json.12345678.tmp", "web/.notes.tmp"):
        (tmp_path / path).write_text("x")
    assert stale_temp_files(str(tmp_path), {"web": {}, "missing": {}}) == [
        str(tmp_path / ".microvm-credentials.json.12345678.tmp"), str(tmp_path / "web" / ".a.cred.abcdefgh.tmp")]


def test_make_directory_modes_whatever_the_umask(tmp_path):
    old = os.umask(0o077)
    try:
        make_directory(str(tmp_path / "a" / "b" / "creds"))
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(str(tmp_path / "a")).st_mode) == 0o755
    assert stat.S_IMODE(os.stat(str(tmp_path / "a" / "b")).st_mode) == 0o755
    assert stat.S_IMODE(os.stat(str(tmp_path / "a" / "b" / "creds")).st_mode) == 0o700


def test_remove_owned_keeps_what_it_did_not_create(tmp_path):
    for d in ("gone", "busy", "web"):
        (tmp_path / d).mkdir()
    for path in ("gone/x.cred", "busy/y.cred", "busy/foreign.txt", "web/old.cred", "web/keep.cred"):
        (tmp_path / path).write_text("x")
    changes = {"write": [], "rekey": [], "remove": [("busy", "y"), ("gone", "x"), ("gone", "already-missing"), ("web", "old")]}
    assert remove_owned(str(tmp_path), changes, {"web": {"keep": b"1"}}) == ["gone"]
    assert sorted(os.listdir(str(tmp_path))) == ["busy", "web"]
    assert os.listdir(str(tmp_path / "busy")) == ["foreign.txt"]
    assert os.listdir(str(tmp_path / "web")) == ["keep.cred"]
