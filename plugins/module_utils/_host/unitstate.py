# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The state of the instances' units, read from one `systemctl show` for all of them that matter.

Shared by microvm_instances (start, enable, restart) and the audit (restart pending),
so that both read and compare the same way. Standard library only: the audit's host
module imports it without the launcher.

`systemctl show` makes systemd load every unit it is asked about: about 20 ms of PID 1's
time per instance whose unit is not loaded, 50 instances a second on a busy host, in
every converge. A unit that is not loaded is inactive, so only the loaded ones (one
`systemctl list-units`, which loads nothing) and those whose enablement matters are shown;
the others read as None (not running, not enabled).

Restart pending: the running unit became active before a credential file was last
written, so the VM still holds the previous value (credentials are loaded when the
unit starts, before it becomes active).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

# us+utc: microseconds, and no dependence on the host's time zone.
SYSTEMCTL_TIMESTAMP = "--timestamp=us+utc"
UNIT_PROPERTIES = ("Id", "ActiveState", "UnitFileState", "ActiveEnterTimestamp")
_TIMESTAMP_FORMAT = "%a %Y-%m-%d %H:%M:%S.%f UTC"
# A unit on its way up or reloading runs: starting it again would be wrong.
RUNNING_STATES = ("active", "activating", "reloading")


def unit_name(instance):
    return "microvm@%s.service" % instance


def systemctl_show_args(instances):
    """Arguments of one `systemctl show` for the units of all INSTANCES (never none: it would describe the manager)."""
    args = ["show", SYSTEMCTL_TIMESTAMP] + ["--property=" + p for p in UNIT_PROPERTIES]
    return args + [unit_name(i) for i in sorted(instances)]


def systemctl_list_args():
    """Arguments of one `systemctl list-units` of every loaded instance unit (it loads none)."""
    return ["list-units", "--all", "--plain", "--no-legend", "--full", unit_name("*")]


def listed_units(text):
    """The unit names in the output of systemctl_list_args() (UNIT LOAD ACTIVE SUB DESCRIPTION)."""
    return set(line.split(None, 1)[0] for line in text.splitlines() if line.strip())


def units_to_show(instances, listed, wanted):
    """The INSTANCES whose unit to show: the loaded ones (LISTED units; any other is inactive)
    and the WANTED ones (their enablement is needed: autostart)."""
    return [i for i in instances if unit_name(i) in listed or i in wanted]


def _timestamp(text):
    """Seconds since the epoch of a systemctl us+utc timestamp; None when empty or unknown."""
    try:
        moment = datetime.datetime.strptime(text.strip(), _TIMESTAMP_FORMAT)
    except ValueError:
        return None
    return (moment - datetime.datetime(1970, 1, 1)).total_seconds()


def parse_units(text):
    """{unit: {"active_state": STATE, "unit_file_state": STATE, "active_since": SECONDS or None}}
    from the output of systemctl_show_args()."""
    units = {}
    for block in text.strip().split("\n\n"):
        props = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        if "Id" in props:
            units[props["Id"]] = {"active_state": props.get("ActiveState", "unknown"),
                                  "unit_file_state": props.get("UnitFileState", ""),
                                  "active_since": _timestamp(props.get("ActiveEnterTimestamp", ""))}
    return units


def instance_units(text, instances):
    """{instance: unit state or None} of INSTANCES from the output of systemctl_show_args()."""
    units = parse_units(text)
    return dict((i, units.get(unit_name(i))) for i in instances)


def running(unit):
    return unit is not None and unit["active_state"] in RUNNING_STATES


def enabled(unit):
    return unit is not None and unit["unit_file_state"] == "enabled"


def restart_pending(unit, mtime):
    """The unit runs and became active before the credential file (MTIME, or None) was written."""
    if unit is None or mtime is None or unit["active_state"] != "active" or unit["active_since"] is None:
        return False
    return mtime > unit["active_since"]
