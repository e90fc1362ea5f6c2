# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Per-instance files on the host: launcher config, unit drop-in, virtiofsd config.

Pure rendering, so that the module can write every instance of a host in one call.
None of these files holds a secret: credentials appear by name and encrypted path.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from ._credstore import cred_path

DROPIN_NAME = "50-microvm-credentials.conf"
VIRTIOFSD_UNIT = "microvm-virtiofsd@%s:%s.service"


def unit_name(name):
    return "microvm@%s.service" % name


def _header(header):
    return "".join("# %s\n" % line if line else "#\n" for line in header.splitlines()) if header else ""


def dropin_content(instance, credential_directory, header=""):
    """The microvm@NAME.service drop-in: credentials, virtiofsd dependencies, stop timeout."""
    lines = [_header(header)]
    virtiofsd = [VIRTIOFSD_UNIT % (instance["name"], share["tag"]) for share in instance["shares"]]
    if virtiofsd:
        lines.append("[Unit]\n")
        lines.append("Requires=%s\n" % " ".join(virtiofsd))
        lines.append("After=%s\n\n" % " ".join(virtiofsd))
    lines.append("[Service]\n")
    for cred in instance["credentials"]:
        if cred.get("inject", True):
            lines.append("LoadCredentialEncrypted=%s:%s\n" % (cred["name"], cred_path(credential_directory, instance["name"], cred["name"])))
    # ExecStop= gets stop_timeout for a graceful power-off; systemd kills after that.
    lines.append("TimeoutStopSec=%d\n" % (instance["stop_timeout"] + 10))
    return "".join(lines)


def virtiofsd_env(share, header=""):
    return "%sSHARED_DIR=%s\nSOCKET_PATH=%s\n" % (_header(header), share["source"], share["socket"])


def launcher_config(instance):
    """What the launcher needs: how credentials are generated or where they come from stays on the controller."""
    config = dict(instance)
    config["credentials"] = [dict((k, c.get(k)) for k in ("id", "name", "binary", "inject")) for c in instance["credentials"]]
    return config


def desired_files(instances, paths, header=""):
    """Map each file path to (content, mode, instance name) for INSTANCES.

    PATHS has config_dir, unit_dir, virtiofs_dir and credential_directory.
    """
    files = {}
    for instance in instances:
        name = instance["name"]
        files[os.path.join(paths["config_dir"], name + ".json")] = (json.dumps(launcher_config(instance), indent=2, sort_keys=True) + "\n", 0o600, name)
        files[os.path.join(paths["unit_dir"], unit_name(name) + ".d", DROPIN_NAME)] = (
            dropin_content(instance, paths["credential_directory"], header), 0o644, name)
        for share in instance["shares"]:
            files[os.path.join(paths["virtiofs_dir"], "%s:%s.env" % (name, share["tag"]))] = (virtiofsd_env(share, header), 0o600, name)
    return files


def stale_files(instances, existing_config_names, existing_virtiofs_names, paths):
    """Files of instances or shares no longer configured: (names of removed instances, paths)."""
    wanted = set(i["name"] for i in instances)
    wanted_shares = set("%s:%s" % (i["name"], s["tag"]) for i in instances for s in i["shares"])
    gone = sorted(set(existing_config_names) - wanted)
    stale = []
    for name in gone:
        stale.append(os.path.join(paths["config_dir"], name + ".json"))
        stale.append(os.path.join(paths["unit_dir"], unit_name(name) + ".d", DROPIN_NAME))
    for share in sorted(set(existing_virtiofs_names) - wanted_shares):
        stale.append(os.path.join(paths["virtiofs_dir"], share + ".env"))
    return gone, stale


def instances_to_restart(instances, changed_names, active, just_started):
    """Running instances whose files or credentials changed, except those started just now."""
    return sorted(i["name"] for i in instances
                  if i["name"] in changed_names and active.get(i["name"]) and i["name"] not in just_started)
