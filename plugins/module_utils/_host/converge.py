# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The host side of microvm.credentials.microvm_instances: compare the desired files and
directories (see render.py) with the host, write what differs atomically, and drive systemd.

plan() only reads, so check mode reports exactly what apply() would do.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import grp
import os
import pkgutil
import pwd
import shutil

from .. import _launcher
from .._fs import atomic_write
from .credstore import cred_written
# launch is the launcher's entry point: importing it makes AnsiballZ ship it and, through
# its imports, every other file of the package, which launcher_package() reads back.
from .._launcher.launch import user_name
from .render import (
    SYSUSERS_NAME,
    desired_files,
    install_directories,
    install_files,
    instances_to_restart,
    package_dir,
    stale_files,
    stale_package_entries,
)
from .unitstate import enabled, instance_units, listed_units, running, systemctl_list_args, systemctl_show_args, unit_name, units_to_show

# The module's options that place things on the host (paths, and the package's name).
PATH_OPTIONS = ("lib_dir", "launcher_package", "launcher", "config_dir", "virtiofs_dir", "unit_dir", "sysusers_dir",
                "credential_directory")


def launcher_package():
    """{file name: bytes} of the launcher package as this process imported it (from the
    module's zip payload on the host, from the collection on the controller)."""
    names = ["__init__.py"] + sorted(m.name + ".py" for m in pkgutil.iter_modules(_launcher.__path__) if not m.ispkg)
    return dict((name, pkgutil.get_data(_launcher.__name__, name)) for name in names)


def _bytes(content):
    return content if isinstance(content, bytes) else content.encode("utf-8")


def _text(content):
    return content.decode("utf-8", "replace") if isinstance(content, bytes) else content


def read_file(path):
    """(content bytes, mode, uid, gid) of PATH, or Nones."""
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            return f.read(), st.st_mode & 0o7777, st.st_uid, st.st_gid
    except (IOError, OSError):
        return None, None, None, None


def gid_of(group):
    """GID of GROUP (None: root), or None if it does not exist yet."""
    if group is None:
        return 0
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        return None


def user_entry(name):
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def file_differs(path, content, mode, group):
    old, old_mode, old_uid, old_gid = read_file(path)
    return old != _bytes(content) or (old_mode, old_uid, old_gid) != (mode, 0, gid_of(group))


def directory_differs(path, mode):
    try:
        st = os.lstat(path)
    except OSError:
        return True
    return not os.path.isdir(path) or os.path.islink(path) or (st.st_mode & 0o7777, st.st_uid, st.st_gid) != (mode, 0, 0)


def ensure_directory(path, mode):
    if not os.path.isdir(path):
        os.makedirs(path, mode)
    os.chown(path, 0, 0)
    os.chmod(path, mode)


def write_file(path, content, mode, group):
    """Write CONTENT to PATH (root:GROUP, MODE) atomically; root's own group for None."""
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o755)  # a unit drop-in directory; the collection's own are made first
    atomic_write(path, _bytes(content), mode, gid_of(group))


def remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.unlink(path)
        if path.endswith(".conf"):  # a drop-in: its directory goes with it when empty
            try:
                os.rmdir(os.path.dirname(path))
            except OSError:
                pass


def listdir(directory, suffix=""):
    """Names in DIRECTORY ending with SUFFIX, without it."""
    try:
        return [e[:len(e) - len(suffix)] for e in os.listdir(directory) if e.endswith(suffix)]
    except OSError:
        return []


def _owned(instances):
    """(path, user, mode) of what each instance's user owns alone: its disk images, and the
    directories of its shares (its virtiofsd runs as that user)."""
    for instance in instances:
        user = user_name(instance["name"])
        for disk in instance["disks"]:
            yield disk["path"], user, 0o600
        for share in instance["shares"]:
            yield share["source"], user, 0o700


def disks_to_chown(instances):
    """Existing disk images and share directories not yet owned by their instance's user with
    their mode: [(path, user, mode)]."""
    wrong = []
    for path, user, mode in _owned(instances):
        entry = user_entry(user)
        try:
            st = os.stat(path)
        except OSError:
            continue  # made later, or missing: the hypervisor or virtiofsd names it
        if entry is None or (st.st_uid, st.st_gid, st.st_mode & 0o7777) != (entry.pw_uid, entry.pw_gid, mode):
            wrong.append((path, user, mode))
    return wrong


class Systemctl:
    def __init__(self, module):
        self.module = module
        self.bin = module.get_bin_path("systemctl", required=True)

    def run(self, *args):
        return self.module.run_command([self.bin] + list(args))

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

    def states(self, names, wanted):
        """{instance name: unit state or None}: the loaded units and the WANTED ones shown in one
        systemctl call, the others (not loaded: inactive) None (see unitstate.py)."""
        if not names:
            return {}
        shown = units_to_show(names, listed_units(self.must(*systemctl_list_args())), set(wanted))
        return instance_units(self.must(*systemctl_show_args(shown)) if shown else "", names)


def autostarted(params):
    """The instances the run starts and enables (their units' enablement matters)."""
    return [i["name"] for i in params["instances"] if i.get("autostart", True)] if params["start"] else []


def credentials_written(instances, directory):
    """{instance name: when its newest injected credential file was written, or None}."""
    written = {}
    for instance in instances:
        times = [cred_written(directory, instance["name"], c["name"]) for c in instance["credentials"] if c.get("inject", True)]
        times = [t for t in times if t is not None]
        written[instance["name"]] = max(times) if times else None
    return written


def _diff(path, before, after):
    return dict(before_header=path, after_header=path, before=_text(before), after=_text(after))


def _metadata(mode, uid, gid):
    return "mode %04o, owner %s:%s\n" % (mode, uid, gid) if mode is not None else ""


def file_diff(path, content, mode, group):
    """The content's diff, or the mode and owner's when only they differ."""
    old, old_mode, old_uid, old_gid = read_file(path)
    if old == _bytes(content):
        return _diff(path, _metadata(old_mode, old_uid, old_gid), _metadata(mode, 0, gid_of(group)))
    return _diff(path, old or b"", content)


def removal_diff(path):
    """What goes: a file's content (or that it was there), a directory."""
    if os.path.isdir(path) and not os.path.islink(path):
        return _diff(path, "directory\n", "")
    return _diff(path, read_file(path)[0] or "file\n", "")


def directory_diff(path, mode):
    try:
        st = os.lstat(path)
        before = ("directory, " if os.path.isdir(path) and not os.path.islink(path) else "not a directory, ") + \
            _metadata(st.st_mode & 0o7777, st.st_uid, st.st_gid)
    except OSError:
        before = ""
    return _diff(path, before, "directory, " + _metadata(mode, 0, 0))


class Plan:
    """What a converge changes on the host, found by reading only."""

    def __init__(self, params, package, states):
        """PARAMS: the module's parameters; PACKAGE: launcher_package(); STATES: Systemctl.states()."""
        self.paths = dict((k, params[k]) for k in PATH_OPTIONS)
        self.instances = params["instances"]
        self.sysusers = os.path.join(self.paths["sysusers_dir"], SYSUSERS_NAME)
        self.files = install_files(self.paths, params["launcher_script"], params["units"], package)
        self.files.update(desired_files(self.instances, self.paths, params["header"]))
        self._plan_files()
        self.disks = disks_to_chown(self.instances)
        self.gone, self.stale = self._stale(params["purge"], package)
        self.diffs += [removal_diff(p) for p in self.stale]
        self._plan_units(params, states)

    def _plan_files(self):
        self.directories = [(d, m) for d, m in install_directories(self.paths) if directory_differs(d, m)]
        self.diffs = [directory_diff(d, m) for d, m in self.directories]
        self.written = [p for p in sorted(self.files) if file_differs(p, *self._spec(p))]
        self.diffs += [file_diff(p, *self._spec(p)) for p in self.written]
        if [i for i in self.instances if user_entry(user_name(i["name"])) is None] and self.sysusers not in self.written:
            self.written.append(self.sysusers)  # a user was deleted by hand: declare it again

    def _plan_units(self, params, states):
        """Starts, enables and restarts; STATES: {name: unit state or None}, from Systemctl.states()."""
        autostart = autostarted(params)
        self.to_start = [n for n in autostart if not running(states.get(n))]
        self.to_enable = [n for n in autostart if not enabled(states.get(n))]
        files_changed = set(self.files[w][2] for w in self.written)
        written = credentials_written(self.instances, self.paths["credential_directory"])
        self.restart_reasons = instances_to_restart(self.instances, files_changed, set(params["restart"]), states,
                                                    written, set(self.to_start))
        self.restarted = sorted(self.restart_reasons)

    def _spec(self, path):
        content, mode, dummy, group = self.files[path]
        return content, mode, group

    def _stale(self, purge, package):
        """(instances to purge, paths to remove): the package folder is always cleaned."""
        stale = stale_package_entries(self.paths, listdir(package_dir(self.paths)), package)
        gone = []
        if purge:
            gone, files = stale_files(self.instances, listdir(self.paths["config_dir"], ".json"),
                                      listdir(self.paths["virtiofs_dir"], ".env"), self.paths)
            stale += [s for s in files if os.path.lexists(s)]
        return gone, stale

    @property
    def changed(self):
        return bool(self.directories or self.written or self.disks or self.stale or self.gone or self.to_start
                    or self.to_enable or self.restarted)

    def result(self, diff):
        result = dict(changed=self.changed, directories=[d for d, m in self.directories], written=self.written,
                      chowned=[d for d, u, m in self.disks], removed=self.stale, started=self.to_start,
                      restarted=self.restarted, restart_reasons=self.restart_reasons, purged=self.gone)
        if diff:
            result["diff"] = self.diffs
        return result


def apply(module, plan, systemctl):
    """Carry out PLAN: users before the files and disks given to them, units before systemd reloads."""
    for path, mode in plan.directories:
        ensure_directory(path, mode)
    if plan.gone:
        systemctl.run("disable", "--now", *[unit_name(n) for n in plan.gone])
    for path in plan.stale:
        remove(path)
    if plan.sysusers in plan.written:
        content, mode = plan.files[plan.sysusers][:2]
        write_file(plan.sysusers, content, mode, None)
        module.run_command([module.get_bin_path("systemd-sysusers", required=True), plan.sysusers], check_rc=True)
    for path in plan.written:
        if path != plan.sysusers:
            content, mode, dummy, group = plan.files[path]
            write_file(path, content, mode, group)
    for path, user, mode in plan.disks:
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)
        os.chmod(path, mode)
    for name in plan.gone:
        remove_user(module, user_name(name))
    unit_dir = plan.paths["unit_dir"].rstrip("/") + "/"
    if any(p.startswith(unit_dir) for p in plan.written + plan.stale):
        systemctl.must("daemon-reload")
    if plan.to_enable:
        systemctl.must("enable", *[unit_name(n) for n in plan.to_enable])
    if plan.to_start:
        systemctl.must("start", *[unit_name(n) for n in plan.to_start])
    if plan.restarted:
        systemctl.must("restart", *[unit_name(n) for n in plan.restarted])


def remove_user(module, name):
    """userdel the instance's user and its group; the files it owned stay (disks are data)."""
    if user_entry(name) is not None:
        module.run_command(["userdel", name], check_rc=True)
    if gid_of(name) is not None:
        module.run_command(["groupdel", name], check_rc=True)


def converge(module):
    """The whole microvm_instances run: plan, then (unless check mode or nothing to do) apply."""
    systemctl = Systemctl(module)
    params = module.params
    plan = Plan(params, launcher_package(), systemctl.states([i["name"] for i in params["instances"]], autostarted(params)))
    if plan.changed and not module.check_mode:
        apply(module, plan, systemctl)
    module.exit_json(**plan.result(module._diff))
