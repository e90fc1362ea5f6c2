from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.microvm.credentials.plugins.module_utils._host.audit import compare
from ansible_collections.microvm.credentials.plugins.module_utils._host.credstore import entry


def test_compare_follows_the_rewrite_rule_without_decrypting():
    expected = {"web": {"same": "ta", "other": "tb", "new": "tc", "old-key": "td", "changed": "te", "deleted": "tf"}}
    owned = {"web": {"same": entry("auto", "ta", "f"), "other": entry("auto", "tz", "f"), "old-key": entry("host", "td", "f"),
                     "changed": entry("auto", "te", "f"), "deleted": entry("auto", "tf", "f"), "stale": entry("auto", "ts", "f")},
             "removed": {"x": entry("auto", "tx", "f")}}
    files = {"changed": "g", "deleted": None}

    def current(instance, name):
        return files.get(name, "f")

    assert compare(expected, owned, "auto", current) == {
        ("web", "same"): "in-sync",
        ("web", "other"): "differs",
        ("web", "new"): "missing",
        ("web", "old-key"): "rekey",
        ("web", "changed"): "tampered",
        ("web", "deleted"): "missing",
        ("web", "stale"): "host-only",
        ("removed", "x"): "host-only",
    }
