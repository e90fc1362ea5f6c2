from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

from ansible_collections.microvm.credentials.plugins.module_utils._host.unitstate import (
    enabled,
    instance_units,
    listed_units,
    parse_units,
    restart_pending,
    running,
    systemctl_list_args,
    systemctl_show_args,
    units_to_show,
)

SHOW = """Id=microvm@web.service
ActiveState=active
UnitFileState=enabled
ActiveEnterTimestamp=Fri 2026-11-27 16:30:05.250000 UTC

Id=microvm@db.service
ActiveState=inactive
UnitFileState=disabled
ActiveEnterTimestamp=
"""
ACTIVE_SINCE = (datetime.datetime(2026, 11, 27, 16, 30, 5, 250000) - datetime.datetime(1970, 1, 1)).total_seconds()


def test_one_systemctl_show_for_all_units():
    args = systemctl_show_args(["web", "db"])
    assert args[:2] == ["show", "--timestamp=us+utc"]
    assert args[-2:] == ["microvm@db.service", "microvm@web.service"]
    assert "--property=ActiveEnterTimestamp" in args and "--property=UnitFileState" in args


# systemctl list-units --all --plain --no-legend --full 'microvm@*.service' (systemd 252)
LIST = """microvm@db.service  loaded failed   failed  microVM db
microvm@web.service loaded active   running microVM web
"""


def test_only_loaded_and_wanted_units_are_shown():
    assert systemctl_list_args()[0] == "list-units" and systemctl_list_args()[-1] == "microvm@*.service"
    assert "--all" in systemctl_list_args() and "--plain" in systemctl_list_args()
    listed = listed_units(LIST)
    assert listed == {"microvm@db.service", "microvm@web.service"} and listed_units("") == set()
    # "new" is not loaded (inactive): shown only when its enablement matters.
    assert units_to_show(["web", "db", "new"], listed, set()) == ["web", "db"]
    assert units_to_show(["web", "db", "new"], listed, {"new"}) == ["web", "db", "new"]
    assert units_to_show(["new"], set(), set()) == []


def test_parse_units():
    units = parse_units(SHOW)
    assert units["microvm@web.service"] == {"active_state": "active", "unit_file_state": "enabled", "active_since": ACTIVE_SINCE}
    assert units["microvm@db.service"] == {"active_state": "inactive", "unit_file_state": "disabled", "active_since": None}
    assert parse_units("") == {}


def test_instance_units_running_and_enabled():
    units = instance_units(SHOW, ["web", "db", "new"])
    assert units["new"] is None
    assert running(units["web"]) and enabled(units["web"])
    assert not running(units["db"]) and not enabled(units["db"])
    assert not running(None) and not enabled(None)
    assert running({"active_state": "activating", "unit_file_state": "", "active_since": None})


def test_restart_pending_only_for_a_running_unit_older_than_the_file():
    active = {"active_state": "active", "active_since": 100.5}
    assert restart_pending(active, 100.6)
    assert not restart_pending(active, 100.4)
    assert not restart_pending(active, None)
    assert not restart_pending({"active_state": "inactive", "active_since": 100.5}, 200.0)
    assert not restart_pending({"active_state": "active", "active_since": None}, 200.0)
    assert not restart_pending(None, 200.0)
