# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""microvm-launch: start, boot and stop one microVM from microvm@NAME.service.

    microvm-launch exec NAME          ExecStart=: becomes the hypervisor (execv)
    microvm-launch boot NAME          ExecStartPost=: configures/boots it, returns when it runs
    microvm-launch stop NAME MAINPID  ExecStop=: graceful power-off, then returns

Credentials come from $CREDENTIALS_DIRECTORY (LoadCredentialEncrypted=) and leave this
process only as SMBIOS type 11 OEM strings: for QEMU through pipes inherited by the
hypervisor (-smbios type=11,path=/dev/fd/N), for cloud-hypervisor in the body of
PUT /api/v1/vm.create on its private API socket. Never in argv, the environment, a
file or a log line. Copied verbatim to the host with its sibling module_utils files,
so it imports only the standard library and them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import shutil
import sys
import time

from . import _cloud_hypervisor as cloud_hypervisor
from . import _qemu as qemu
from ._smbios import OemStringError, check_limits, check_unique, encode_credential

CONFIG_DIR = "/etc/microvm-credentials/instances"


class LaunchError(Exception):
    pass


def load_instance(name, config_dir=CONFIG_DIR):
    path = os.path.join(config_dir, name + ".json")
    try:
        with open(path) as f:
            return json.load(f)
    except (IOError, OSError, ValueError) as exc:
        raise LaunchError("cannot read instance configuration %s: %s" % (path, exc))


def oem_strings(instance, credentials_dir):
    """The OEM strings of INSTANCE: its credentials, then its static strings."""
    injected = [c for c in instance["credentials"] if c.get("inject", True)]
    if injected and not credentials_dir:
        raise LaunchError("CREDENTIALS_DIRECTORY is not set: start the instance through microvm@%s.service" % instance["name"])
    strings = []
    for cred in injected:
        path = os.path.join(credentials_dir, cred["name"])
        try:
            with open(path, "rb") as f:
                value = f.read()
        except (IOError, OSError) as exc:
            raise LaunchError("credential %s is missing from the service's credentials (%s)" % (cred["name"], exc.strerror))
        try:
            strings.append(encode_credential(cred["name"], value, cred.get("binary")))
        except OemStringError as exc:
            raise LaunchError(str(exc))
    strings.extend(instance.get("oem_strings", []))
    try:
        check_unique(strings)
        check_limits(strings, instance["hypervisor"])
    except OemStringError as exc:
        raise LaunchError(str(exc))
    return strings


def pipe_paths(strings):
    """Put each string in an inheritable pipe and return the /dev/fd paths QEMU opens.

    QEMU reads each path to EOF once, at start; a drained pipe leaves no copy of the
    secret behind (a memfd would stay readable through /proc/PID/fd for the VM's life).
    A string is at most ~60 KiB (_smbios_limits), below the 64 KiB pipe buffer, so
    writing never blocks.
    """
    paths = []
    for oem_string in strings:
        read_end, write_end = os.pipe()
        try:
            data = oem_string.encode("utf-8")
            if os.write(write_end, data) != len(data):
                raise LaunchError("short write of an OEM string into its pipe")
        finally:
            os.close(write_end)
        os.set_inheritable(read_end, True)
        paths.append("/dev/fd/%d" % read_end)
    return paths


def cmd_exec(instance, environ):
    if instance["hypervisor"] == "qemu":
        strings = oem_strings(instance, environ.get("CREDENTIALS_DIRECTORY"))
        argv = qemu.build_argv(instance, pipe_paths(strings), binary=instance.get("binary"))
    else:
        argv = cloud_hypervisor.build_argv(instance, binary=instance.get("binary"))
    executable = argv[0] if os.path.isabs(argv[0]) else shutil.which(argv[0])
    if not executable:
        raise LaunchError("hypervisor executable %s not found on PATH" % argv[0])
    if os.path.exists(instance["api_socket"]):
        os.unlink(instance["api_socket"])  # a stale socket from a killed run
    os.execv(executable, argv)


def _ready(instance):
    """True once the hypervisor answers on its control socket (QEMU: guest running)."""
    sock = instance["api_socket"]
    if not os.path.exists(sock):
        return False
    try:
        if instance["hypervisor"] == "qemu":
            return bool(qemu.query_status(sock, timeout=2).get("running"))
        cloud_hypervisor.wait_for_socket(sock, 0.5)
        return True
    except (qemu.QmpError, cloud_hypervisor.ApiError):
        return False


def cmd_boot(instance, environ, timeout=60):
    """Wait for the hypervisor (failing early if it died), then boot cloud-hypervisor's VM."""
    mainpid = int(environ.get("MAINPID") or 0)
    deadline = time.monotonic() + timeout
    while not _ready(instance):
        if mainpid and not _alive(mainpid):
            raise LaunchError("the hypervisor (PID %d) exited during start; see its messages above" % mainpid)
        if time.monotonic() > deadline:
            raise LaunchError("timed out after %ss waiting for %s" % (timeout, instance["api_socket"]))
        time.sleep(0.1)
    if instance["hypervisor"] != "qemu":
        # QEMU read its OEM strings before it opened QMP; cloud-hypervisor gets them now.
        strings = oem_strings(instance, environ.get("CREDENTIALS_DIRECTORY"))
        cloud_hypervisor.create_and_boot(instance["api_socket"], cloud_hypervisor.build_vm_config(instance, strings))


def _alive(pid):
    try:
        os.kill(pid, 0)
    except OSError:
        return False
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
        if instance["hypervisor"] == "qemu":
            qemu.system_powerdown(sock, timeout=5)
            _wait(lambda: not _alive(mainpid), timeout, "the guest to power off")
        else:
            cloud_hypervisor.power_button(sock)
            _wait(lambda: not _alive(mainpid) or cloud_hypervisor.vm_state(sock) == "Shutdown",
                  timeout, "the guest to power off")
            if _alive(mainpid):
                cloud_hypervisor.vmm_shutdown(sock)
    except (LaunchError, qemu.QmpError, cloud_hypervisor.ApiError, OSError, ValueError) as exc:
        # Not fatal: systemd falls back to SIGTERM/SIGKILL after ExecStop=.
        sys.stderr.write("graceful stop of %s incomplete: %s\n" % (instance["name"], exc))


def main(argv=None, environ=None):
    argv = sys.argv[1:] if argv is None else argv
    environ = os.environ if environ is None else environ
    if len(argv) < 2 or argv[0] not in ("exec", "boot", "stop"):
        sys.stderr.write("usage: microvm-launch exec|boot|stop NAME [MAINPID]\n")
        return 2
    try:
        instance = load_instance(argv[1], environ.get("MICROVM_CONFIG_DIR", CONFIG_DIR))
        if argv[0] == "exec":
            cmd_exec(instance, environ)
        elif argv[0] == "boot":
            cmd_boot(instance, environ)
        else:
            cmd_stop(instance, int(argv[2]) if len(argv) > 2 and argv[2].isdigit() else 0)
    except (LaunchError, qemu.QmpError, cloud_hypervisor.ApiError, OSError) as exc:
        sys.stderr.write("microvm-launch %s %s: %s\n" % (argv[0], argv[1], exc))
        return 1
    return 0
