#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: microvm_instances
short_description: Configure, start and restart all microVM instances of a host in one call
version_added: 0.1.0
description:
  - Declares, for every instance, a static system user and group C(microvm-NAME) in group C(kvm) in
    C(SYSUSERS_DIR/microvm-credentials.conf) and creates them with C(systemd-sysusers); the instance's
    hypervisor runs as that user.
  - Writes, for every instance, the launcher configuration C(CONFIG_DIR/NAME.json) (root:microvm-NAME 0640),
    the unit drop-in C(microvm@NAME.service.d/50-microvm-credentials.conf) with its C(LoadCredentialEncrypted=)
    lines and the sandbox settings that depend on the instance, and the virtiofsd configuration of each share.
    Files are written atomically and only when their content, mode or group differs.
  - Gives each existing disk image to its instance's user, mode 0600. A disk listed by two instances is an error.
  - Reloads systemd when a unit file changed, enables and starts instances with C(autostart), and
    restarts running instances whose files changed or that are listed in O(restart).
  - With O(purge), stops, disables and removes the files and the user of instances no longer configured.
  - One call handles every instance of the host, so a converge makes the same number of round trips
    whatever the number of instances.
author:
  - microvm.credentials maintainers (!UNKNOWN)
attributes:
  check_mode:
    support: full
    description: Reports the files, starts, restarts and purges that would happen, without doing them.
  diff_mode:
    support: full
    description: Shows the content of the changed files; they hold no secret.
requirements:
  - systemd on the host, with C(microvm@.service) installed (the C(microvm.credentials.microvm) role does).
options:
  instances:
    description:
      - Normalised instances, as returned by the P(microvm.credentials.instances_config#filter) filter.
    type: list
    elements: dict
    required: true
  restart:
    description: Instances to restart if they run, for example those whose credentials changed.
    type: list
    elements: str
    default: []
  start:
    description: Enable and start instances whose C(autostart) is true.
    type: bool
    default: true
  purge:
    description: Stop, disable and remove instances that have a configuration file but are no longer listed.
    type: bool
    default: true
  header:
    description: Comment placed at the top of every file written (for example C(ansible_managed)).
    type: str
    default: ""
  config_dir:
    description: Directory of the launcher's per-instance configuration.
    type: path
    default: /etc/microvm-credentials/instances
  virtiofs_dir:
    description: Directory of the per-share virtiofsd configuration.
    type: path
    default: /etc/microvm-credentials/virtiofs
  unit_dir:
    description: Directory for the unit drop-ins.
    type: path
    default: /etc/systemd/system
  sysusers_dir:
    description: Directory of the C(systemd-sysusers) file that declares the instances' users.
    type: path
    default: /etc/sysusers.d
  launcher:
    description: Path of the host launcher, run as root by the unit to create tap devices.
    type: path
    default: /usr/libexec/microvm-credentials/microvm-launch
  credential_directory:
    description: Host directory of the encrypted credential store.
    type: path
    default: /var/lib/microvm-credentials
"""

EXAMPLES = r"""
- name: Configure and start the microVMs
  microvm.credentials.microvm_instances:
    instances: "{{ microvm_instances | microvm.credentials.instances_config }}"
    restart: "{{ creds.changed_instances }}"
    header: "{{ ansible_managed }}"
"""

RETURN = r"""
written:
  description: Files written.
  returned: always
  type: list
  elements: str
chowned:
  description: Disk images given to their instance's user (mode 0600).
  returned: always
  type: list
  elements: str
removed:
  description: Files removed with purged instances.
  returned: always
  type: list
  elements: str
started:
  description: Instances started.
  returned: always
  type: list
  elements: str
restarted:
  description: Instances restarted.
  returned: always
  type: list
  elements: str
purged:
  description: Instances stopped, disabled and removed, with their users.
  returned: always
  type: list
  elements: str
"""

import grp
import os
import pwd
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.microvm.credentials.plugins.module_utils._launcher.launch import user_name
from ansible_collections.microvm.credentials.plugins.module_utils._units import (
    SYSUSERS_NAME,
    desired_files,
    instances_to_restart,
    stale_files,
    unit_name,
)


def _read(path):
    """(content, mode, gid) of PATH, or Nones."""
    try:
        with open(path) as f:
            st = os.fstat(f.fileno())
            return f.read(), st.st_mode & 0o7777, st.st_gid
    except (IOError, OSError):
        return None, None, None


def _gid(group):
    """GID of GROUP (None: root), or None if it does not exist yet."""
    if group is None:
        return 0
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        return None


def _user(name):
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def _disks_to_chown(instances):
    """Existing disk images not yet owned by their instance's user with mode 0600."""
    wrong = []
    for instance in instances:
        user = _user(user_name(instance["name"]))
        for disk in instance["disks"]:
            try:
                st = os.stat(disk["path"])
            except OSError:
                continue  # made later, or missing: the hypervisor names it
            if user is None or (st.st_uid, st.st_gid, st.st_mode & 0o7777) != (user.pw_uid, user.pw_gid, 0o600):
                wrong.append((disk["path"], user_name(instance["name"])))
    return wrong


def _names(directory, suffix):
    try:
        return [e[:-len(suffix)] for e in os.listdir(directory) if e.endswith(suffix)]
    except OSError:
        return []


class Systemctl:
    def __init__(self, module):
        self.module = module
        self.bin = module.get_bin_path("systemctl", required=True)

    def run(self, *args):
        rc, out, err = self.module.run_command([self.bin] + list(args))
        return rc, out, err

    def must(self, *args):
        rc, out, err = self.run(*args)
        if rc != 0:
            units = [a for a in args if a.startswith("microvm@")]
            journal = ""
            if units:
                dummy, journal, dummy2 = self.module.run_command(["journalctl", "--no-pager", "-n", "30", "-o", "cat"] +
                                                                 ["--unit=" + u for u in units])
            self.module.fail_json(msg="systemctl %s failed: %s" % (" ".join(args), err.strip()), journal=journal.splitlines())
        return out

    def states(self, names):
        """Map instance name -> (active?, enabled?) in one systemctl call."""
        if not names:
            return {}
        out = self.must("show", "--property=Id,ActiveState,UnitFileState", *[unit_name(n) for n in names])
        states = {}
        for block in out.strip().split("\n\n"):
            props = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
            unit = props.get("Id", "")
            if unit.startswith("microvm@") and unit.endswith(".service"):
                states[unit[len("microvm@"):-len(".service")]] = (
                    props.get("ActiveState") in ("active", "activating", "reloading"),
                    props.get("UnitFileState") == "enabled",
                )
        return states


def _write(module, path, content, mode, group):
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        # Group-readable files (the launcher's configuration) need a directory others may traverse.
        os.makedirs(directory, 0o755 if directory.endswith(".d") else 0o711 if group else 0o700)
    fd, tmp = tempfile.mkstemp(prefix=".microvm", dir=directory)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(content)
        os.chown(tmp, 0, _gid(group))
        os.chmod(tmp, mode)
        module.atomic_move(tmp, path)
        os.chown(path, 0, _gid(group))
        os.chmod(path, mode)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _remove_user(module, name):
    """userdel the instance's user and its group; the files it owned stay (disks are data)."""
    if _user(name) is not None:
        module.run_command(["userdel", name], check_rc=True)
    if _gid(name) is not None:
        module.run_command(["groupdel", name], check_rc=True)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            instances=dict(type="list", elements="dict", required=True),
            restart=dict(type="list", elements="str", default=[]),
            start=dict(type="bool", default=True),
            purge=dict(type="bool", default=True),
            header=dict(type="str", default=""),
            config_dir=dict(type="path", default="/etc/microvm-credentials/instances"),
            virtiofs_dir=dict(type="path", default="/etc/microvm-credentials/virtiofs"),
            unit_dir=dict(type="path", default="/etc/systemd/system"),
            sysusers_dir=dict(type="path", default="/etc/sysusers.d"),
            launcher=dict(type="path", default="/usr/libexec/microvm-credentials/microvm-launch"),
            credential_directory=dict(type="path", default="/var/lib/microvm-credentials"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    instances = p["instances"]
    paths = dict((k, p[k]) for k in ("config_dir", "virtiofs_dir", "unit_dir", "sysusers_dir", "credential_directory", "launcher"))
    files = desired_files(instances, paths, p["header"])
    sysusers = os.path.join(p["sysusers_dir"], SYSUSERS_NAME)

    result = dict(changed=False, written=[], chowned=[], removed=[], started=[], restarted=[], purged=[])
    diffs = []
    for path in sorted(files):
        content, mode, dummy, group = files[path]
        old, old_mode, old_gid = _read(path)
        if old != content or old_mode != mode or old_gid != _gid(group):
            result["written"].append(path)
            diffs.append(dict(before_header=path, after_header=path, before=old or "", after=content))
    missing_users = [i["name"] for i in instances if _user(user_name(i["name"])) is None]
    if missing_users and sysusers not in result["written"]:
        result["written"].append(sysusers)  # a user was deleted by hand: declare it again
    disks = _disks_to_chown(instances)
    result["chowned"] = [d[0] for d in disks]
    gone, stale = ([], [])
    if p["purge"]:
        gone, stale = stale_files(instances, _names(p["config_dir"], ".json"), _names(p["virtiofs_dir"], ".env"), paths)
        stale = [s for s in stale if os.path.exists(s)]
        for path in stale:
            old = _read(path)[0]
            diffs.append(dict(before_header=path, after_header=path, before=old or "", after=""))
    result["removed"], result["purged"] = stale, gone

    systemctl = Systemctl(module)
    names = [i["name"] for i in instances]
    states = systemctl.states(names)
    autostart = [i["name"] for i in instances if i.get("autostart", True)] if p["start"] else []
    to_start = [n for n in autostart if not states.get(n, (False, False))[0]]
    to_enable = [n for n in autostart if not states.get(n, (False, False))[1]]
    changed_names = set(files[w][2] for w in result["written"]) | set(p["restart"])
    active = dict((n, s[0]) for n, s in states.items())
    result["started"] = to_start
    result["restarted"] = instances_to_restart(instances, changed_names, active, set(to_start))
    result["changed"] = bool(result["written"] or disks or stale or gone or to_start or to_enable or result["restarted"])
    if module._diff:
        result["diff"] = diffs
    if module.check_mode or not result["changed"]:
        module.exit_json(**result)

    if gone:
        systemctl.run("disable", "--now", *[unit_name(n) for n in gone])
    for path in stale:
        os.unlink(path)
        if path.endswith(".conf"):
            try:
                os.rmdir(os.path.dirname(path))
            except OSError:
                pass
    # Users first: the launcher's configuration and the disks are given to them.
    if sysusers in result["written"]:
        _write(module, sysusers, files[sysusers][0], files[sysusers][1], None)
        module.run_command([module.get_bin_path("systemd-sysusers", required=True), sysusers], check_rc=True)
    for path in result["written"]:
        if path != sysusers:
            _write(module, path, files[path][0], files[path][1], files[path][3])
    for path, user in disks:
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)
        os.chmod(path, 0o600)
    for name in gone:
        _remove_user(module, user_name(name))
    if any(w.startswith(p["unit_dir"]) for w in result["written"] + stale):
        systemctl.must("daemon-reload")
    if to_enable:
        systemctl.must("enable", *[unit_name(n) for n in to_enable])
    if to_start:
        systemctl.must("start", *[unit_name(n) for n in to_start])
    if result["restarted"]:
        systemctl.must("restart", *[unit_name(n) for n in result["restarted"]])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
