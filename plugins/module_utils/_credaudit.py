# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The host half of the audit: what the host holds, compared without any value crossing.

The controller sends, per credential, HMAC-SHA256(K, value) with a key K it drew at
random for this run; the host decrypts its credential, computes the same and says
only whether they match. The comparison is the host module's own rewrite decision
(_credstore.plan), so "in sync" means exactly "a converge would leave it alone".

Restart pending: the running unit became active before the credential file was last
written, so the VM still holds the previous value (credentials are loaded when the
unit starts, before it becomes active).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import hashlib
import hmac

from ansible_collections.microvm.credentials.plugins.module_utils._credstore import plan

# us+utc: microseconds, and no dependence on the host's time zone.
SYSTEMCTL_TIMESTAMP = "--timestamp=us+utc"
UNIT_PROPERTIES = ("Id", "ActiveState", "ActiveEnterTimestamp")
_TIMESTAMP_FORMAT = "%a %Y-%m-%d %H:%M:%S.%f UTC"


def digest(key, value):
    """HMAC-SHA256 of VALUE (bytes) under KEY (bytes), hex: what the controller sends and the host computes."""
    return hmac.new(key, value, hashlib.sha256).hexdigest()


def unit_name(instance):
    return "microvm@%s.service" % instance


def systemctl_show_argv(systemctl, instances):
    """One `systemctl show` for the units of all INSTANCES."""
    argv = [systemctl, "show", SYSTEMCTL_TIMESTAMP] + ["--property=" + p for p in UNIT_PROPERTIES]
    return argv + [unit_name(i) for i in sorted(instances)]


def _timestamp(text):
    """Seconds since the epoch of a systemctl us+utc timestamp; None when empty or unknown."""
    try:
        moment = datetime.datetime.strptime(text.strip(), _TIMESTAMP_FORMAT)
    except ValueError:
        return None
    return (moment - datetime.datetime(1970, 1, 1)).total_seconds()


def parse_units(text):
    """{unit: {"active_state": STATE, "active_since": SECONDS or None}} from systemctl show output."""
    units = {}
    for block in text.strip().split("\n\n"):
        props = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        if "Id" in props:
            units[props["Id"]] = {"active_state": props.get("ActiveState", "unknown"),
                                  "active_since": _timestamp(props.get("ActiveEnterTimestamp", ""))}
    return units


def restart_pending(unit, mtime):
    """The unit runs and became active before the credential file (MTIME, or None) was written."""
    if unit is None or mtime is None or unit["active_state"] != "active" or unit["active_since"] is None:
        return False
    return mtime > unit["active_since"]


def compare(expected, owned, key, current_digest):
    """{(instance, name): STATE} for the EXPECTED digests ({instance: {name: digest}}).

    STATE is in-sync, missing (the host does not hold it), rekey (sealed with another
    key than KEY) or differs (another value, or it cannot be decrypted). Credentials
    the host holds (OWNED, from its manifest) for no expected name are host-only.
    """
    changes = plan(expected, owned, key, current_digest)
    write, rekey = set(changes["write"]), set(changes["rekey"])
    states = {}
    for instance in expected:
        for name in expected[instance]:
            item = (instance, name)
            if item in rekey:
                states[item] = "rekey"
            elif item in write:
                states[item] = "missing" if name not in owned.get(instance, {}) else "differs"
            else:
                states[item] = "in-sync"
    for item in changes["remove"]:
        states[item] = "host-only"
    return states
