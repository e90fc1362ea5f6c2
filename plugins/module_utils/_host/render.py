# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Files on the host: the launcher and its unit templates, and per instance the launcher
config, unit drop-in, virtiofsd config and users.

Pure rendering, so that the module can write every instance of a host in one call.
None of these files holds a secret: credentials appear by name and encrypted path.
Every path comes from PATHS (the module's options, which the role passes from its vars).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import posixpath

from .credstore import cred_path
from .._launcher import hypervisors
from .._launcher.launch import user_name
from .._launcher.qemu import kvm_usable
from .unitstate import restart_pending, running, unit_name

DROPIN_NAME = "50-microvm-credentials.conf"
SYSUSERS_NAME = "microvm-credentials.conf"
VIRTIOFSD_UNIT = "microvm-virtiofsd@%s:%s.service"


def _header(header):
    return "".join("# %s\n" % line if line else "#\n" for line in header.splitlines()) if header else ""


def resolved_accel(instance, kvm_probe=kvm_usable):
    """kvm or tcg: decided once on the host, for both the launcher and the unit's sandbox."""
    return hypervisors.of(instance).resolve_accel(instance.get("accel"), kvm_probe)


def _sandbox_lines(instance, launcher):
    """Unit settings that depend on the instance: the devices it uses, W^X, its network."""
    lines = []
    if instance["accel"] == "kvm":
        # TCG translates guest code into W+X memory; with KVM nothing needs it.
        lines += ["DeviceAllow=/dev/kvm rw\n", "MemoryDenyWriteExecute=yes\n"]
    if instance["interfaces"]:
        lines += ["DeviceAllow=/dev/net/tun rw\n",
                  "ExecStartPre=+%s tap %s\n" % (launcher, instance["name"])]
    else:
        lines.append("PrivateNetwork=yes\n")
    lines += hypervisors.of(instance).sandbox_lines(instance)
    state_dir = instance["state_dir"].rstrip("/") + "/"
    for disk in instance["disks"]:
        if disk["path"].startswith("/dev/"):
            lines.append("DeviceAllow=%s %s\n" % (disk["path"], "r" if disk["readonly"] else "rw"))
        if not disk["readonly"] and not disk["path"].startswith(state_dir):
            lines.append("ReadWritePaths=-%s\n" % disk["path"])
    return lines


def dropin_content(instance, credential_directory, launcher, header=""):
    """The microvm@NAME.service drop-in: credentials, virtiofsd dependencies, stop timeout, sandbox.

    INSTANCE's accel is already resolved (resolved_accel()).
    """
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
    lines.extend(_sandbox_lines(instance, launcher))
    return "".join(lines)


def virtiofsd_env(share, header=""):
    """The share's directory and socket, read by microvm-virtiofsd@NAME:TAG.service."""
    return "%sSHARED_DIR=%s\nSOCKET_PATH=%s\n" % (_header(header), share["source"], share["socket"])


def _unit_path(path):
    """PATH quoted for a unit file's path list: '%' is a specifier, quotes and '\\' escape."""
    return '"%s"' % path.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")


def virtiofsd_dropin(instance, share, header=""):
    """The microvm-virtiofsd@NAME:TAG.service drop-in: virtiofsd runs as the instance's own user,
    as its hypervisor does, beside its sockets in a runtime directory only that user enters,
    and may write to its share's directory alone."""
    user = user_name(instance["name"])
    return "%s[Service]\nUser=%s\nGroup=%s\nRuntimeDirectory=%s\nReadWritePaths=%s\n" % (
        _header(header), user, user, posixpath.dirname(share["socket"])[len("/run/"):], _unit_path(share["source"]))


def sysusers_content(instances, header=""):
    """systemd-sysusers lines: a static system user and group microvm-NAME per instance, in group kvm."""
    # Debian's udev package creates kvm (its basic.conf does not); declared for hosts without it.
    lines = [_header(header), "g kvm -\n"]
    for instance in instances:
        user = user_name(instance["name"])
        lines.append('u %s - "microVM %s" - -\n' % (user, instance["name"]))
        lines.append("m %s kvm\n" % user)
    return "".join(lines)


def desired_files(instances, paths, header="", kvm_probe=kvm_usable):
    """Map each file path to (content, mode, instance name or None, group or None for root) for INSTANCES.

    PATHS has config_dir, unit_dir, virtiofs_dir, sysusers_dir, credential_directory and launcher.
    INSTANCES are the controller's host views (_schema/instances.host_view): the launcher's
    configuration is one of them as it is, its accel resolved here. It is readable by the
    instance's group only: the hypervisor runs as it.
    """
    files = {os.path.join(paths["sysusers_dir"], SYSUSERS_NAME): (sysusers_content(instances, header), 0o644, None, None)}
    for instance in instances:
        name = instance["name"]
        instance = dict(instance, accel=resolved_accel(instance, kvm_probe))
        files[os.path.join(paths["config_dir"], name + ".json")] = (
            json.dumps(instance, indent=2, sort_keys=True) + "\n", 0o640, name, user_name(name))
        files[os.path.join(paths["unit_dir"], unit_name(name) + ".d", DROPIN_NAME)] = (
            dropin_content(instance, paths["credential_directory"], paths["launcher"], header), 0o644, name, None)
        for share in instance["shares"]:
            files[os.path.join(paths["virtiofs_dir"], "%s:%s.env" % (name, share["tag"]))] = (
                virtiofsd_env(share, header), 0o600, name, None)
            files[os.path.join(paths["unit_dir"], VIRTIOFSD_UNIT % (name, share["tag"]) + ".d", DROPIN_NAME)] = (
                virtiofsd_dropin(instance, share, header), 0o644, name, None)
    return files


def package_dir(paths):
    return os.path.join(paths["lib_dir"], paths["launcher_package"])


def install_directories(paths):
    """(path, mode) of the directories the collection owns (root:root), parents first."""
    return [
        (paths["lib_dir"], 0o755),
        (package_dir(paths), 0o755),
        (os.path.dirname(paths["launcher"]), 0o755),
        # Each instance's user reads its own launcher configuration by name; it lists nothing.
        (paths["config_dir"], 0o711),
        (paths["virtiofs_dir"], 0o700),
    ]


def install_files(paths, launcher_script, units, package):
    """The launcher script, the unit templates ({file name: text}) and the launcher package
    ({file name: bytes}), in the form of desired_files(): nothing per instance, all root's."""
    files = {paths["launcher"]: (launcher_script, 0o755, None, None)}
    for name, text in units.items():
        files[os.path.join(paths["unit_dir"], name)] = (text, 0o644, None, None)
    for name, data in package.items():
        files[os.path.join(package_dir(paths), name)] = (data, 0o644, None, None)
    return files


def stale_package_entries(paths, existing, package):
    """Entries of the installed package folder that are not in PACKAGE. Python's own
    __pycache__ stays: the launcher recreates it at each start, and it never shadows a source."""
    return sorted(os.path.join(package_dir(paths), e) for e in existing if e not in package and e != "__pycache__")


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
        stale.append(os.path.join(paths["unit_dir"], "microvm-virtiofsd@%s.service.d" % share, DROPIN_NAME))
    return gone, stale


def instances_to_restart(instances, files_changed, requested, units, credentials_written, just_started):
    """{name: reason} of the running instances to restart, except those started just now.

    The reason is "files" (FILES_CHANGED names it), "requested" (REQUESTED does: its
    credentials changed in this run) or "credentials": a credential file was written after
    the unit became active (CREDENTIALS_WRITTEN: {name: newest mtime or None}), by a run
    that did not restart it, such as the role's credentials entry point alone.
    UNITS: {name: unit state or None}, as unitstate.instance_units() reads them.
    """
    reasons = {}
    for name in (i["name"] for i in instances):
        if not running(units.get(name)) or name in just_started:
            continue
        if name in files_changed:
            reasons[name] = "files"
        elif name in requested:
            reasons[name] = "requested"
        elif restart_pending(units[name], credentials_written.get(name)):
            reasons[name] = "credentials"
    return reasons
