from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

from ansible_collections.microvm.credentials.plugins.module_utils._credaudit import (
    compare,
    digest,
    parse_units,
    restart_pending,
    systemctl_show_argv,
)

KEY = b"k" * 32
SHOW = """Id=microvm@web.service
ActiveState=active
ActiveEnterTimestamp=Fri 2026-11-27 16:30:05.250000 UTC

Id=microvm@db.service
ActiveState=inactive
ActiveEnterTimestamp=
"""
ACTIVE_SINCE = (datetime.datetime(2026, 11, 27, 16, 30, 5, 250000) - datetime.datetime(1970, 1, 1)).total_seconds()


def test_digest_is_keyed():
    assert digest(KEY, b"v") == digest(KEY, b"v")
    assert digest(KEY, b"v") != digest(b"j" * 32, b"v")
    assert len(digest(KEY, b"v")) == 64


def test_one_systemctl_show_for_all_units():
    argv = systemctl_show_argv("/bin/systemctl", ["web", "db"])
    assert argv[:3] == ["/bin/systemctl", "show", "--timestamp=us+utc"]
    assert argv[-2:] == ["microvm@db.service", "microvm@web.service"]
    assert "--property=ActiveEnterTimestamp" in argv


def test_parse_units():
    units = parse_units(SHOW)
    assert units["microvm@web.service"] == {"active_state": "active", "active_since": ACTIVE_SINCE}
    assert units["microvm@db.service"] == {"active_state": "inactive", "active_since": None}
    assert parse_units("") == {}


def test_restart_pending_only_for_a_running_unit_older_than_the_file():
    active = {"active_state": "active", "active_since": 100.5}
    assert restart_pending(active, 100.6)
    assert not restart_pending(active, 100.4)
    assert not restart_pending(active, None)
    assert not restart_pending({"active_state": "inactive", "active_since": 100.5}, 200.0)
    assert not restart_pending({"active_state": "active", "active_since": None}, 200.0)
    assert not restart_pending(None, 200.0)


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
