from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.microvm.credentials.plugins.module_utils._credstore import (
    decrypt_argv,
    diff_lines,
    encrypt_argv,
    list_instances,
    list_names,
    plan,
)


def test_plan_writes_new_and_changed_keeps_equal_removes_stale():
    desired = {"web": {"a": b"1", "b": b"2", "c": b"3"}, "db": {}}
    existing = {"web": {"a", "b", "old"}, "db": {"gone"}}
    current = {("web", "a"): b"1", ("web", "b"): b"changed"}
    changes = plan("/d", desired, existing, lambda i, n: current.get((i, n)))
    assert changes == {"write": [("web", "b"), ("web", "c")], "remove": [("db", "gone"), ("web", "old")]}


def test_undecryptable_is_rewritten():
    changes = plan("/d", {"web": {"a": b"1"}}, {"web": {"a"}}, lambda i, n: None)
    assert changes["write"] == [("web", "a")]


def test_argv_never_holds_the_value():
    assert encrypt_argv("systemd-creds", "db.password", "/t/x", "host") == [
        "systemd-creds", "encrypt", "--name=db.password", "--with-key=host", "-", "/t/x"]
    assert decrypt_argv("systemd-creds", "n", "/p") == ["systemd-creds", "decrypt", "--name=n", "/p", "-"]


def test_list_names(tmp_path):
    (tmp_path / "web").mkdir()
    for f in ("a.cred", "b.cred", ".a.tmp", "notes.txt", ".x.cred"):
        (tmp_path / "web" / f).write_text("x")
    assert list_names(str(tmp_path), "web") == {"a", "b"}
    assert list_names(str(tmp_path), "missing") == set()


def test_diff_names_only():
    diff = diff_lines({"web": {"a": b"SECRET", "b": b"SECRET2"}}, {"write": [("web", "a")], "remove": [("web", "z")]})
    text = diff["before"] + diff["after"]
    assert "SECRET" not in text
    assert "web/a: encrypted (new value)" in diff["after"] and "web/z: present" in diff["before"]


def test_instances_no_longer_configured_lose_everything():
    changes = plan("/d", {"web": {"a": b"1"}}, {"web": {"a"}, "old": {"x", "y"}}, lambda i, n: b"1")
    assert changes == {"write": [], "remove": [("old", "x"), ("old", "y")]}


def test_list_instances(tmp_path):
    for d in ("web", "db", ".hidden"):
        (tmp_path / d).mkdir()
    (tmp_path / "file").write_text("x")
    assert list_instances(str(tmp_path)) == ["db", "web"]
    assert list_instances(str(tmp_path / "missing")) == []
