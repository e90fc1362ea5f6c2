# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""microvm-launch: start, boot and stop one microVM from microvm@NAME.service.

    microvm-launch tap NAME           ExecStartPre=+ (root): creates the instance's tap devices
    microvm-launch exec NAME          ExecStart=: becomes the hypervisor (execv)
    microvm-launch boot NAME          ExecStartPost=: configures/boots it, returns when it runs
    microvm-launch stop NAME MAINPID  ExecStop=: graceful power-off, then returns

All but tap run as the instance's own user, microvm-NAME (see user_name()).

Credentials come from $CREDENTIALS_DIRECTORY (LoadCredentialEncrypted=) and leave this
process only as SMBIOS type 11 OEM strings: for QEMU through pipes inherited by the
hypervisor (-smbios type=11,path=/dev/fd/N), for cloud-hypervisor in the body of
PUT /api/v1/vm.create on its private API socket. Never in argv, the environment, a
file or a log line. Copied verbatim to the host with its sibling module_utils files,
so it imports only the standard library and them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import json
import os
import pwd
import shutil
import stat
import subprocess
import sys
import time

from . import hypervisors
from .hypervisors import HYPERVISORS, binary_of
from .smbios import OemStringError, build_oem_strings

SYS_CLASS_NET = "/sys/class/net"
# Starts each boot's part of the serial log (playbooks/demo_report.yml reads what follows the last one).
BOOT_MARKER = "MICROVM-BOOT"
SHARE_TIMEOUT = 30  # seconds for a virtiofsd to listen on its socket


class LaunchError(Exception):
    pass


# What a command reports as its failure; a failed graceful stop also on bad answers (ValueError).
_ERRORS = (LaunchError, OSError) + hypervisors.ERRORS
_STOP_ERRORS = _ERRORS + (ValueError,)


def user_name(name):
    """The static system user (and group) the hypervisor of instance NAME runs as."""
    return "microvm-" + name


def load_instance(name, config_dir):
    path = os.path.join(config_dir, name + ".json")
    try:
        with open(path) as f:
            return json.load(f)
    except (IOError, OSError, ValueError) as exc:
        raise LaunchError("cannot read instance configuration %s: %s" % (path, exc))


def oem_strings(instance, service_credentials):
    """The OEM strings of INSTANCE: its credentials, read from SERVICE_CREDENTIALS, then its static strings.

    SERVICE_CREDENTIALS is systemd's $CREDENTIALS_DIRECTORY, where the unit's credentials lie
    decrypted; not the host credential directory (microvm_credential_directory) they were loaded from.

    The configuration is the controller's, already validated: only the values read here are checked.
    """
    credentials = instance["credentials"]
    if credentials and not service_credentials:
        raise LaunchError("CREDENTIALS_DIRECTORY is not set: start the instance through microvm@%s.service" % instance["name"])
    values = [(cred["name"], _read_credential(service_credentials, cred["name"]), cred["binary"]) for cred in credentials]
    try:
        return build_oem_strings(values, instance["oem_strings"], instance["hypervisor"])
    except OemStringError as exc:
        raise LaunchError(str(exc))


def _read_credential(service_credentials, name):
    try:
        with open(os.path.join(service_credentials, name), "rb") as f:
            return f.read()
    except (IOError, OSError) as exc:
        raise LaunchError("credential %s is missing from the service's credentials (%s)" % (name, exc.strerror))


def check_version(hypervisor, executable, run):
    """Refuse a hypervisor binary that would mishandle the OEM strings (its module's version_problem()).
    RUN is subprocess.run (the launcher runs outside Ansible, with no run_command)."""
    try:
        proc = run([executable, "--version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        raise LaunchError("cannot run %s --version: %s" % (executable, exc))
    lines = proc.stdout.decode("utf-8", "replace").splitlines()
    problem = HYPERVISORS[hypervisor].version_problem(lines[0] if lines else "")
    if problem:
        raise LaunchError("%s: %s" % (executable, problem))


def cmd_exec(instance, environ):
    binary = binary_of(instance)
    executable = binary if os.path.isabs(binary) else shutil.which(binary)
    if not executable:
        raise LaunchError("hypervisor executable %s not found on PATH" % binary)
    check_version(instance["hypervisor"], executable, subprocess.run)
    wait_for_shares(instance)
    argv = hypervisors.of(instance).exec_argv(instance, binary, _oem_reader(instance, environ))
    if os.path.exists(instance["api_socket"]):
        os.unlink(instance["api_socket"])  # a stale socket from a killed run
    mark_serial_log(instance)
    os.execv(executable, argv)


def wait_for_shares(instance, timeout=SHARE_TIMEOUT):
    """Wait for each share's virtiofsd socket: the unit starts after its virtiofsd units
    (Type=simple), which may not be listening yet, and the hypervisor connects at once."""
    for share in instance.get("shares") or []:
        _wait(lambda: _is_socket(share["socket"]), timeout, "virtiofsd's socket %s" % share["socket"])


def _is_socket(path):
    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        return False


def _oem_reader(instance, environ):
    """READ_OEM_STRINGS of the hypervisor interface: read only when the hypervisor takes them."""
    return lambda: oem_strings(instance, environ.get("CREDENTIALS_DIRECTORY"))


def mark_serial_log(instance):
    """Append a BOOT_MARKER line to the serial log: QEMU appends this boot's output after it,
    so a reader can tell it from earlier boots' (cloud-hypervisor truncates the log anyway)."""
    if not instance.get("serial_log"):
        return
    line = "%s name=%s time=%s\n" % (BOOT_MARKER, instance["name"], time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    fd = os.open(instance["serial_log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, line.encode("utf-8"))
    finally:
        os.close(fd)


def cmd_tap(instance, run=subprocess.run, sys_class_net=SYS_CLASS_NET):
    """Create each tap device owned by the instance's user (so the hypervisor needs no
    CAP_NET_ADMIN to attach to it) and set it up; refuse one that someone else owns."""
    user = user_name(instance["name"])
    try:
        uid = pwd.getpwnam(user).pw_uid
    except KeyError:
        raise LaunchError("user %s does not exist: the microvm_instances module declares it" % user)
    for nic in instance.get("interfaces") or []:
        tap = nic["tap"]
        device = os.path.join(sys_class_net, tap)
        if not os.path.exists(device):
            _ip(run, "tuntap", "add", "dev", tap, "mode", "tap", "user", user)
        else:
            owner = _read_sys(os.path.join(device, "owner"))
            if owner is None:
                raise LaunchError("interface %s exists and is not a tap device" % tap)
            if owner != str(uid):
                raise LaunchError("tap device %s exists and belongs to uid %s, not %s (uid %d): delete it "
                                  "(ip link del %s) or create it with user %s" % (tap, owner, user, uid, tap, user))
        _ip(run, "link", "set", "dev", tap, "up")


def _read_sys(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except (IOError, OSError):
        return None


def _ip(run, *args):
    proc = run(["ip"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    if proc.returncode != 0:
        raise LaunchError("ip %s failed: %s" % (" ".join(args), proc.stderr.decode("utf-8", "replace").strip()))


def _ready(instance):
    """True once the hypervisor answers on its control socket (see its ready())."""
    sock = instance["api_socket"]
    return os.path.exists(sock) and hypervisors.of(instance).ready(sock)


def cmd_boot(instance, environ, timeout=60):
    """Wait for the hypervisor (failing early if it died), then boot (cloud-hypervisor gets its OEM strings now)."""
    mainpid = int(environ.get("MAINPID") or 0)
    deadline = time.monotonic() + timeout
    while not _ready(instance):
        if mainpid and not _alive(mainpid):
            raise LaunchError("the hypervisor (PID %d) exited during start; see its messages above" % mainpid)
        if time.monotonic() > deadline:
            raise LaunchError("timed out after %ss waiting for %s" % (timeout, instance["api_socket"]))
        time.sleep(0.1)
    hypervisors.of(instance).boot(instance, _oem_reader(instance, environ))


def _alive(pid):
    try:
        os.kill(pid, 0)
    except OSError as exc:
        # EPERM: it exists, as another user.
        return exc.errno == errno.EPERM
    return True


def _wait(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise LaunchError("timed out after %ss waiting for %s" % (timeout, what))
        time.sleep(0.1)


def cmd_stop(instance, mainpid):
    """Ask the guest to power off; systemd kills what is left after we return."""
    sock = instance["api_socket"]
    timeout = instance.get("stop_timeout", 30)
    if not mainpid or not _alive(mainpid) or not os.path.exists(sock):
        return
    try:
        hypervisors.of(instance).stop(sock, lambda: _alive(mainpid), _wait, timeout)
    except _STOP_ERRORS as exc:
        # Not fatal: systemd falls back to SIGTERM/SIGKILL after ExecStop=.
        sys.stderr.write("graceful stop of %s incomplete: %s\n" % (instance["name"], exc))


def main(argv=None, environ=None, config_dir=None):
    """CONFIG_DIR holds NAME.json; the script the role renders passes it. $MICROVM_CONFIG_DIR
    overrides it where the launcher runs outside its unit (the benchmarks)."""
    argv = sys.argv[1:] if argv is None else argv
    environ = os.environ if environ is None else environ
    if len(argv) < 2 or argv[0] not in ("tap", "exec", "boot", "stop"):
        sys.stderr.write("usage: microvm-launch tap|exec|boot|stop NAME [MAINPID]\n")
        return 2
    try:
        instance = load_instance(argv[1], environ.get("MICROVM_CONFIG_DIR") or config_dir)
        if argv[0] == "tap":
            cmd_tap(instance)
        elif argv[0] == "exec":
            cmd_exec(instance, environ)
        elif argv[0] == "boot":
            cmd_boot(instance, environ)
        else:
            cmd_stop(instance, int(argv[2]) if len(argv) > 2 and argv[2].isdigit() else 0)
    except _ERRORS as exc:
        sys.stderr.write("microvm-launch %s %s: %s\n" % (argv[0], argv[1], exc))
        return 1
    return 0
