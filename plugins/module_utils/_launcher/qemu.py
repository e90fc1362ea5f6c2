# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""QEMU (qemu-system-x86_64): the hypervisor interface (see hypervisors.py), its
command line and a minimal QMP client.

Pure code, standard library only: the host role copies this file verbatim next
to the launcher.

No secret is ever put on the command line: every OEM string, secret or not,
reaches QEMU as ``-smbios type=11,path=/dev/fd/N`` where N is a pipe the
launcher passes down.  QEMU opens the path with qemu_open() (util/osdep.c), a
plain open(2) for anything that is not /dev/fdset/, so /dev/fd/N re-opens the
inherited descriptor through /proc and reads it from offset 0 until EOF
(save_opt_one() in hw/smbios/smbios.c).

Option grammar: qemu-options.hx.  Values of QemuOpts options (key=value lists)
escape a literal comma by doubling it; plain arguments (-kernel, -initrd,
-append, -bios) are taken verbatim.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import socket
import time

from .smbios_limits import QEMU_LIMITS

NAME = "qemu"
DEFAULT_BINARY = "qemu-system-x86_64"
DEFAULT_MACHINE = "q35"
QMP_TIMEOUT = 10.0
# q35 builds one type 11 structure under the SMBIOS 2.1 entry point (smbios_limits).
OEM_LIMITS = QEMU_LIMITS

# hw/nvme and virtio-blk copy at most 20 bytes of the serial (NVMe identify SN,
# VIRTIO_BLK_ID_BYTES); our serials are short generated ids.
_DISK_DEVICES = {"nvme": "nvme", "virtio": "virtio-blk-pci"}

# vhost-user-fs-pci default queue-size is 128 (vuf_properties in
# hw/virtio/vhost-user-fs.c); 1024 matches cloud-hypervisor's FsConfig default.
_FS_QUEUE_SIZE = 1024


SANDBOX = "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"

# Reading -smbios type=11,path= overran a buffer until QEMU 7.2.18, 9.2.4 and
# 10.0; Debian 12 carries the fix from 1:7.2+dfsg-7+deb12u14.
MINIMUM = "7.2.18, 9.2.4 or 10.0 (Debian 12: 1:7.2+dfsg-7+deb12u14)"
_VERSION_RE = re.compile(r"QEMU emulator version (\d+)\.(\d+)(?:\.(\d+))?")
_DEBIAN_72_RE = re.compile(r"\(Debian 1:7\.2\+dfsg-7\+deb12u(\d+)")


class QmpError(Exception):
    """A QMP exchange failed or QEMU answered with an error."""


def _esc(value):
    """Escape VALUE for a QemuOpts key=value list (',' is written ',,')."""
    return str(value).replace(",", ",,")


def version_problem(version_line):
    """None if the first line of ``qemu-system-x86_64 --version`` names a fixed QEMU, else why not."""
    line = (version_line or "").strip()
    match = _VERSION_RE.search(line)
    if not match:
        return "cannot tell the QEMU version from %r; QEMU %s or later is required" % (line[:200], MINIMUM)
    major, minor, micro = int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)
    debian = _DEBIAN_72_RE.search(line)
    if ((major, minor) >= (10, 0)
            or ((major, minor) == (9, 2) and micro >= 4)
            or ((major, minor) == (7, 2) and (micro >= 18 or (debian is not None and int(debian.group(1)) >= 14)))):
        return None
    return ("QEMU %d.%d.%d (%s) reads -smbios type=11,path= with a buffer overrun; "
            "QEMU %s or later is required" % (major, minor, micro, line[:200], MINIMUM))


def kvm_usable(path="/dev/kvm"):
    """True if PATH can be opened read-write, as QEMU's KVM accelerator needs."""
    try:
        fd = os.open(path, os.O_RDWR | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return False
    os.close(fd)
    return True


def resolve_accel(accel, kvm_probe=kvm_usable):
    """Return "kvm" or "tcg" for ACCEL kvm|tcg|auto (auto probes with KVM_PROBE())."""
    if accel == "auto":
        return "kvm" if kvm_probe() else "tcg"
    return accel


def build_argv(instance, oem_paths, binary=None, kvm_probe=kvm_usable):
    """Return the qemu-system-x86_64 argv for the normalised INSTANCE.

    OEM_PATHS: one path per OEM string, in order (the launcher passes
    /dev/fd/N of pipes).  KVM_PROBE: callable used for accel "auto".
    """
    machine = instance.get("machine") or DEFAULT_MACHINE
    accel = resolve_accel(instance.get("accel"), kvm_probe)
    mem = int(instance["mem"])
    shares = instance.get("shares") or []

    argv = [
        binary or instance.get("binary") or DEFAULT_BINARY,
        "-name", "guest=" + _esc(instance["name"]),
        # No default devices, no /etc/qemu config, no display: everything the
        # guest sees is listed below.
        "-nodefaults", "-no-user-config", "-display", "none",
        "-machine", _esc(machine),
        "-accel", accel,
        # "host" needs KVM; "max" is the TCG equivalent (all emulated features).
        "-cpu", "host" if accel == "kvm" else "max",
        "-smp", str(int(instance["vcpu"])),
        "-m", "%dM" % mem,
    ]

    if shares:
        # vhost-user back ends (virtiofsd) need guest RAM they can map: a shared
        # memfd backend as large as -m, attached through a NUMA node
        # (docs/system/devices/vhost-user.rst).
        argv += ["-object", "memory-backend-memfd,id=mem,size=%dM,share=on" % mem,
                 "-numa", "node,memdev=mem"]

    if instance.get("firmware"):
        argv += ["-bios", instance["firmware"]]
    if instance.get("kernel"):
        argv += ["-kernel", instance["kernel"]]
        if instance.get("initrd"):
            argv += ["-initrd", instance["initrd"]]
        if instance.get("cmdline"):
            argv += ["-append", instance["cmdline"]]

    for i, disk in enumerate(instance.get("disks") or []):
        interface = disk.get("interface") or "virtio"
        drive = "if=none,id=disk%d,file=%s" % (i, _esc(disk["path"]))
        if disk.get("format"):
            drive += ",format=" + _esc(disk["format"])
        if disk.get("readonly"):
            drive += ",readonly=on"
        argv += ["-drive", drive,
                 "-device", "%s,drive=disk%d,serial=disk%d" % (_DISK_DEVICES[interface], i, i)]

    for i, nic in enumerate(instance.get("interfaces") or []):
        # script=no/downscript=no: the tap exists already (systemd-networkd);
        # QEMU must not run /etc/qemu-ifup.
        argv += ["-netdev", "tap,id=net%d,ifname=%s,script=no,downscript=no" % (i, _esc(nic["tap"]))]
        device = "virtio-net-pci,netdev=net%d" % i
        if nic.get("mac"):
            device += ",mac=" + _esc(nic["mac"])
        argv += ["-device", device]

    for i, share in enumerate(shares):
        argv += ["-chardev", "socket,id=fs%d,path=%s" % (i, _esc(share["socket"])),
                 "-device", "vhost-user-fs-pci,chardev=fs%d,tag=%s,queue-size=%d" % (i, _esc(share["tag"]), _FS_QUEUE_SIZE)]

    if instance.get("vsock_cid") is not None:
        argv += ["-device", "vhost-vsock-pci,guest-cid=%d" % int(instance["vsock_cid"])]

    if instance.get("serial_log"):
        # append=on: keep the log of earlier boots (qemu_chr_parse_file_out(),
        # chardev/char-file.c); without it the file is truncated.
        argv += ["-chardev", "file,id=serial0,path=%s,append=on" % _esc(instance["serial_log"]),
                 "-serial", "chardev:serial0"]

    if instance.get("api_socket"):
        # QMP server for system_powerdown and query-status; wait=off so QEMU
        # starts the guest without waiting for a client.
        argv += ["-chardev", "socket,id=qmp,path=%s,server=on,wait=off" % _esc(instance["api_socket"]),
                 "-mon", "chardev=qmp,mode=control"]

    for path in oem_paths:
        argv += ["-smbios", "type=11,path=" + _esc(path)]
    # QEMU's seccomp filter (qemu-seccomp.c), on top of the unit's: no obsolete
    # syscalls, no set*uid, no fork/exec, no scheduler or affinity changes.
    argv += ["-sandbox", SANDBOX]
    return argv


class _QmpConnection:
    """QMP messages are JSON objects, one per line (QEMU ends each with CR LF)."""

    def __init__(self, sock, deadline):
        self.sock = sock
        self.deadline = deadline
        self.buffer = b""

    def read(self):
        while b"\n" not in self.buffer:
            remaining = self.deadline - time.time()
            if remaining <= 0:
                raise QmpError("QMP timeout")
            self.sock.settimeout(remaining)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise QmpError("QMP connection closed by QEMU")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        try:
            return json.loads(line.decode("utf-8"))
        except ValueError:
            raise QmpError("QMP sent a message that is not JSON")

    def execute(self, command, arguments=None):
        message = {"execute": command}
        if arguments:
            message["arguments"] = arguments
        self.sock.sendall(json.dumps(message).encode("utf-8") + b"\n")
        while True:
            reply = self.read()
            if "event" in reply:
                continue  # asynchronous events may arrive at any time
            if "error" in reply:
                error = reply["error"]
                raise QmpError("QMP %s failed: %s: %s" % (command, error.get("class"), error.get("desc")))
            if "return" in reply:
                return reply["return"]
            raise QmpError("unexpected QMP reply to %s" % command)


def qmp_command(sock_path, command, arguments=None, timeout=QMP_TIMEOUT):
    """Run one QMP COMMAND on the QMP socket SOCK_PATH; return its "return" value.

    Protocol (docs/interop/qmp-spec.rst): the server greets with {"QMP": ...};
    the client leaves capabilities negotiation with qmp_capabilities and may
    then execute commands.  Raises QmpError (also for timeouts and I/O errors).
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(sock_path)
        conn = _QmpConnection(sock, time.time() + timeout)
        if "QMP" not in conn.read():
            raise QmpError("no QMP greeting on %s" % sock_path)
        conn.execute("qmp_capabilities")
        return conn.execute(command, arguments)
    except (OSError, socket.timeout) as exc:
        raise QmpError("QMP %s on %s: %s" % (command, sock_path, exc))
    finally:
        sock.close()


def system_powerdown(sock_path, timeout=QMP_TIMEOUT):
    """Press the ACPI power button (QMP system_powerdown)."""
    qmp_command(sock_path, "system_powerdown", timeout=timeout)


def query_status(sock_path, timeout=QMP_TIMEOUT):
    """Return QMP query-status: {"running": bool, "status": "running"|..., ...}."""
    return qmp_command(sock_path, "query-status", timeout=timeout)


# -- the hypervisor interface (hypervisors.py) ------------------------------------

Error = QmpError


def machine_problem(machine):
    """Why the controller refuses MACHINE, or None."""
    # QEMU's "microvm" machine builds no SMBIOS tables: its fw_cfg gets no etc/smbios/* files
    # (microvm_memory_init() in hw/i386/microvm.c, unlike fw_cfg_build_smbios() for pc/q35).
    if machine != DEFAULT_MACHINE:
        return "must be q35: QEMU's other x86 machines here (microvm) have no SMBIOS tables"
    return None


def disk_problem(disk):
    """(option, why) the controller refuses the normalised DISK for, or None: QEMU takes them all."""
    return None


def sandbox_lines(instance):
    """The unit lines QEMU needs beyond the common ones."""
    if instance.get("vsock_cid") is not None:
        # QEMU's vhost-vsock-pci; cloud-hypervisor emulates vsock over a UNIX socket.
        return ["DeviceAllow=/dev/vhost-vsock rw\n"]
    return []


def pipe_paths(strings):
    """Put each string in an inheritable pipe and return the /dev/fd paths QEMU opens.

    QEMU reads each path to EOF once, at start; a drained pipe leaves no copy of the
    secret behind (a memfd would stay readable through /proc/PID/fd for the VM's life).
    A string is at most ~60 KiB (smbios_limits), below the 64 KiB pipe buffer, so
    writing never blocks.
    """
    paths = []
    for oem_string in strings:
        read_end, write_end = os.pipe()
        try:
            data = oem_string.encode("utf-8")
            if os.write(write_end, data) != len(data):
                raise OSError("short write of an OEM string into its pipe")
        finally:
            os.close(write_end)
        os.set_inheritable(read_end, True)
        paths.append("/dev/fd/%d" % read_end)
    return paths


def exec_argv(instance, binary, read_oem_strings):
    """The argv the launcher becomes: the OEM strings (READ_OEM_STRINGS()) go in pipes it inherits."""
    return build_argv(instance, pipe_paths(read_oem_strings()), binary=binary)


def ready(sock_path):
    """True once QMP answers and the guest runs."""
    try:
        return bool(query_status(sock_path, timeout=2).get("running"))
    except QmpError:
        return False


def boot(instance, read_oem_strings):
    """Nothing to do: QEMU read its OEM strings before it opened QMP, and runs the guest."""


def stop(sock_path, alive, wait, timeout):
    """Press the power button; WAIT(predicate, timeout, what) until ALIVE() is false."""
    system_powerdown(sock_path, timeout=5)
    wait(lambda: not alive(), timeout, "the guest to power off")
