from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.microvm.credentials.plugins.module_utils._credaudit import compare, digest

KEY = b"k" * 32


def test_digest_is_keyed():
    assert digest(KEY, b"v") == digest(KEY, b"v")
    assert digest(KEY, b"v") != digest(b"j" * 32, b"v")
    assert len(digest(KEY, b"v")) == 64


def test_compare_follows_the_rewrite_rule():
    expected = {"web": {"same": digest(KEY, b"a"), "other": digest(KEY, b"b"), "new": digest(KEY, b"c"),
                        "old-key": digest(KEY, b"d"), "broken": digest(KEY, b"e")}}
    owned = {"web": {"same": "auto", "other": "auto", "old-key": "host", "broken": "auto", "stale": "auto"},
             "removed": {"x": "auto"}}
    held = {"same": b"a", "other": b"z", "old-key": b"d", "stale": b"s"}

    def current(instance, name):
        return digest(KEY, held[name]) if instance == "web" and name in held else None

    assert compare(expected, owned, "auto", current) == {
        ("web", "same"): "in-sync",
        ("web", "other"): "differs",
        ("web", "new"): "missing",
        ("web", "old-key"): "rekey",
        ("web", "broken"): "differs",
        ("web", "stale"): "host-only",
        ("removed", "x"): "host-only",
    }


def test_a_deleted_file_is_missing_not_differs():
    """The manifest still lists it, but its .cred file is gone (deleted on the host)."""
    expected = {"web": {"gone": digest(KEY, b"a"), "gone-old-key": digest(KEY, b"b"), "here": digest(KEY, b"c")}}
    owned = {"web": {"gone": "auto", "gone-old-key": "host", "here": "auto"}}

    def current(instance, name):
        return digest(KEY, b"c") if name == "here" else None

    assert compare(expected, owned, "auto", current, lambda instance, name: name == "here") == {
        ("web", "gone"): "missing",
        ("web", "gone-old-key"): "missing",
        ("web", "here"): "in-sync",
    }
