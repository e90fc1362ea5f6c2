# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import shutil
import socket
import tempfile
import threading

import pytest

from ansible_collections.microvm.credentials.plugins.module_utils._launcher import qemu as _qemu
from ansible_collections.microvm.credentials.plugins.module_utils._launcher.qemu import (
    QmpError,
    build_argv,
    kvm_usable,
    qmp_command,
    resolve_accel,
    version_problem,
)
from ansible_collections.microvm.credentials.plugins.plugin_utils._schema.instances import host_view, normalize_instance

SECRET = "io.systemd.credential:db.password=s3cr3t-value"


def instance(**overrides):
    """The host view the launcher loads (see render.desired_files), OVERRIDES set on it."""
    spec = {
        "hypervisor": "qemu",
        "vcpu": 2,
        "mem": 256,
        "kernel": "/srv/microvm/vmlinuz",
        "initrd": "/srv/microvm/initrd.img",
        "cmdline": "console=ttyS0 root=/dev/nvme0n1 rw",
        "accel": "kvm",
        "disks": [
            {"path": "/var/lib/microvm/web/root.qcow2", "format": "qcow2", "interface": "nvme"},
            {"path": "/srv/seed.img", "readonly": True},
        ],
        "interfaces": [{"tap": "vm-web0", "mac": "52:54:00:12:34:56"}],
        "shares": [{"tag": "data", "source": "/srv/data"}],
        "vsock_cid": 42,
        "credentials": {"tls-key": {"name": "tls.key", "binary": False, "src": "/srv/tls.key"}},
        "oem_strings": [SECRET],
    }
    inst = host_view(normalize_instance("web", spec))
    inst.update(overrides)
    return inst


# --- QemuOpts grammar ----------------------------------------------------
#
# qemu-options.hx: options taking a key=value list are parsed by QemuOpts
# (util/qemu-option.c): ',' separates items, ',,' is a literal comma in a
# value, an item without '=' is the implied first key (e.g. the -device driver).
# Keys allowed per option and item, transcribed from qemu-options.hx and the
# device property lists cited in _qemu.py.

def split_opts(value):
    items, current, i = [], "", 0
    while i < len(value):
        if value[i] == ",":
            if value[i + 1:i + 2] == ",":
                current += ","
                i += 2
                continue
            items.append(current)
            current = ""
        else:
            current += value[i]
        i += 1
    items.append(current)
    return items


def parse_opts(value, implied=None):
    result = {}
    for n, item in enumerate(split_opts(value)):
        if "=" in item:
            key, val = item.split("=", 1)
        elif n == 0 and implied:
            key, val = implied, item
        else:
            raise AssertionError("item %r of %r has no value" % (item, value))
        assert key not in result, "duplicate key %s in %r" % (key, value)
        result[key] = val
    return result


GRAMMAR = {
    "-name": ("guest", {None: {"guest"}}),
    "-machine": ("type", {None: {"type"}}),
    "-drive": (None, {None: {"if", "id", "file", "format", "readonly"}}),
    "-netdev": ("type", {"tap": {"type", "id", "ifname", "script", "downscript"}}),
    "-device": ("driver", {
        "nvme": {"driver", "drive", "serial"},
        "virtio-blk-pci": {"driver", "drive", "serial"},
        "virtio-net-pci": {"driver", "netdev", "mac"},
        "vhost-user-fs-pci": {"driver", "chardev", "tag", "queue-size"},
        "vhost-vsock-pci": {"driver", "guest-cid"},
    }),
    "-chardev": ("backend", {
        "file": {"backend", "id", "path", "append"},
        "socket": {"backend", "id", "path", "server", "wait"},
    }),
    "-mon": ("chardev", {None: {"chardev", "mode"}}),
    "-object": ("qom-type", {"memory-backend-memfd": {"qom-type", "id", "size", "share"}}),
    "-numa": ("type", {"node": {"type", "memdev"}}),
    "-smbios": (None, {None: {"type", "path"}}),
    "-sandbox": ("enable", {None: {"enable", "obsolete", "elevateprivileges", "spawn", "resourcecontrol"}}),
}
FLAGS = {"-nodefaults", "-no-user-config"}
PLAIN = {"-display", "-accel", "-cpu", "-smp", "-m", "-kernel", "-initrd", "-append", "-bios", "-serial"}


def parse_argv(argv):
    """Return [(option, parsed)] checking every option against GRAMMAR."""
    options, i = [], 1
    while i < len(argv):
        opt = argv[i]
        if opt in FLAGS:
            options.append((opt, None))
            i += 1
            continue
        assert opt in GRAMMAR or opt in PLAIN, "unexpected option %s" % opt
        value = argv[i + 1]
        if opt in GRAMMAR:
            implied, kinds = GRAMMAR[opt]
            parsed = parse_opts(value, implied)
            kind = parsed.get(implied) if None not in kinds else None
            assert kind in kinds, "%s %s not in grammar" % (opt, kind)
            assert set(parsed) <= kinds[kind], "%s: unknown keys %s" % (opt, set(parsed) - kinds[kind])
            options.append((opt, parsed))
        else:
            options.append((opt, value))
        i += 2
    return options


def values(options, opt):
    return [v for o, v in options if o == opt]


def test_full_argv_follows_grammar_and_references_resolve():
    argv = build_argv(instance(), ["/dev/fd/5", "/dev/fd/6"])
    assert argv[0] == "qemu-system-x86_64"
    opts = parse_argv(argv)
    ids = {}
    for opt in ("-drive", "-netdev", "-chardev"):
        for parsed in values(opts, opt):
            assert parsed["id"] not in ids.get(opt, set())
            ids.setdefault(opt, set()).add(parsed["id"])
    for dev in values(opts, "-device"):
        if "drive" in dev:
            assert dev["drive"] in ids["-drive"]
        if "netdev" in dev:
            assert dev["netdev"] in ids["-netdev"]
        if "chardev" in dev:
            assert dev["chardev"] in ids["-chardev"]
    assert values(opts, "-mon") == [{"chardev": "qmp", "mode": "control"}]
    assert values(opts, "-serial") == ["chardev:serial0"]


def test_headless_q35_kvm():
    opts = parse_argv(build_argv(instance(), []))
    assert ("-nodefaults", None) in opts and ("-no-user-config", None) in opts
    assert values(opts, "-display") == ["none"]
    assert values(opts, "-machine") == [{"type": "q35"}]
    assert values(opts, "-accel") == ["kvm"]
    assert values(opts, "-cpu") == ["host"]
    assert values(opts, "-smp") == ["2"]
    assert values(opts, "-m") == ["256M"]
    assert values(opts, "-name") == [{"guest": "web"}]


def test_direct_kernel_boot_and_firmware():
    opts = parse_argv(build_argv(instance(), []))
    assert values(opts, "-kernel") == ["/srv/microvm/vmlinuz"]
    assert values(opts, "-initrd") == ["/srv/microvm/initrd.img"]
    assert values(opts, "-append") == ["console=ttyS0 root=/dev/nvme0n1 rw"]  # verbatim, commas too
    assert values(opts, "-bios") == []
    opts = parse_argv(build_argv(instance(kernel=None, initrd=None, cmdline=None, firmware="/usr/share/ovmf/OVMF.fd"), []))
    assert values(opts, "-bios") == ["/usr/share/ovmf/OVMF.fd"]
    assert values(opts, "-kernel") == []


def test_disks_nvme_and_virtio_with_escaped_comma():
    # The controller refuses ',' in paths; the argv escapes it all the same.
    inst = instance()
    inst["disks"][1] = dict(inst["disks"][1], path="/srv/seed,1.img")
    opts = parse_argv(build_argv(inst, []))
    drives = values(opts, "-drive")
    assert drives[0] == {"if": "none", "id": "disk0", "file": "/var/lib/microvm/web/root.qcow2", "format": "qcow2"}
    assert drives[1] == {"if": "none", "id": "disk1", "file": "/srv/seed,1.img", "format": "raw", "readonly": "on"}
    devices = values(opts, "-device")
    assert {"driver": "nvme", "drive": "disk0", "serial": "disk0"} in devices
    assert {"driver": "virtio-blk-pci", "drive": "disk1", "serial": "disk1"} in devices
    assert "if=none,id=disk1,file=/srv/seed,,1.img,format=raw,readonly=on" in build_argv(inst, [])


def test_tap_interface():
    opts = parse_argv(build_argv(instance(), []))
    assert values(opts, "-netdev") == [{"type": "tap", "id": "net0", "ifname": "vm-web0", "script": "no", "downscript": "no"}]
    assert {"driver": "virtio-net-pci", "netdev": "net0", "mac": "52:54:00:12:34:56"} in values(opts, "-device")


def test_virtiofs_needs_shared_memfd_numa_node():
    opts = parse_argv(build_argv(instance(), []))
    assert values(opts, "-object") == [{"qom-type": "memory-backend-memfd", "id": "mem", "size": "256M", "share": "on"}]
    assert values(opts, "-numa") == [{"type": "node", "memdev": "mem"}]
    assert {"backend": "socket", "id": "fs0", "path": "/run/microvm-virtiofsd/web/data.sock"} in values(opts, "-chardev")
    assert {"driver": "vhost-user-fs-pci", "chardev": "fs0", "tag": "data", "queue-size": "1024"} in values(opts, "-device")
    opts = parse_argv(build_argv(instance(shares=[]), []))
    assert values(opts, "-object") == [] and values(opts, "-numa") == []


def test_vsock_serial_qmp():
    opts = parse_argv(build_argv(instance(), []))
    assert {"driver": "vhost-vsock-pci", "guest-cid": "42"} in values(opts, "-device")
    chardevs = values(opts, "-chardev")
    assert {"backend": "file", "id": "serial0", "path": "/var/log/microvm/web/serial.log", "append": "on"} in chardevs
    assert {"backend": "socket", "id": "qmp", "path": "/run/microvm/web/api.sock", "server": "on", "wait": "off"} in chardevs
    opts = parse_argv(build_argv(instance(vsock_cid=None), []))
    assert not [d for d in values(opts, "-device") if d["driver"] == "vhost-vsock-pci"]


def test_oem_strings_only_as_paths_in_order_never_values():
    argv = build_argv(instance(), ["/dev/fd/5", "/dev/fd/7", "/dev/fd/6"])
    assert values(parse_argv(argv), "-smbios") == [
        {"type": "11", "path": "/dev/fd/5"}, {"type": "11", "path": "/dev/fd/7"}, {"type": "11", "path": "/dev/fd/6"}]
    joined = "\0".join(argv)
    assert "s3cr3t" not in joined and "value=" not in joined and "io.systemd.credential" not in joined
    assert values(parse_argv(build_argv(instance(), [])), "-smbios") == []


def test_binary_override():
    assert build_argv(instance(binary="/opt/qemu/bin/qemu-system-x86_64"), [])[0] == "/opt/qemu/bin/qemu-system-x86_64"
    assert build_argv(instance(binary="/a"), [], binary="/b")[0] == "/b"


def test_accel_auto_uses_probe_and_tcg_uses_cpu_max():
    opts = parse_argv(build_argv(instance(accel="auto"), [], kvm_probe=lambda: True))
    assert values(opts, "-accel") == ["kvm"] and values(opts, "-cpu") == ["host"]
    opts = parse_argv(build_argv(instance(accel="auto"), [], kvm_probe=lambda: False))
    assert values(opts, "-accel") == ["tcg"] and values(opts, "-cpu") == ["max"]
    opts = parse_argv(build_argv(instance(accel="tcg"), [], kvm_probe=lambda: True))
    assert values(opts, "-accel") == ["tcg"]
    assert resolve_accel("auto", lambda: False) == "tcg"
    assert resolve_accel("kvm", lambda: False) == "kvm"


def test_kvm_usable(tmp_path):
    node = tmp_path / "kvm"
    node.write_bytes(b"")
    assert kvm_usable(str(node)) is True
    assert kvm_usable(str(tmp_path / "missing")) is False


# --- QMP client against a fake QMP server ---------------------------------

class FakeQmp(object):
    """Speaks the QMP wire protocol (docs/interop/qmp-spec.rst) on a UNIX socket."""

    def __init__(self, replies, greet=True):
        self.dir = tempfile.mkdtemp(prefix="qmp", dir="/tmp")
        self.path = os.path.join(self.dir, "qmp.sock")
        self.replies = replies  # command -> list of messages to send back
        self.greet = greet
        self.received = []
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(self.path)
        self.server.listen(4)
        self.thread = threading.Thread(target=self.serve)
        self.thread.daemon = True
        self.thread.start()

    def send(self, conn, message):
        conn.sendall(json.dumps(message).encode() + b"\r\n")

    def serve(self):
        try:
            conn, _addr = self.server.accept()
        except OSError:
            return
        with conn:
            if not self.greet:
                conn.recv(1)  # wait for the client to give up
                return
            self.send(conn, {"QMP": {"version": {"qemu": {"major": 7, "minor": 2, "micro": 0}}, "capabilities": []}})
            buf = b""
            while True:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    message = json.loads(line)
                    self.received.append(message)
                    for reply in self.replies.get(message["execute"], [{"return": {}}]):
                        self.send(conn, reply)

    def close(self):
        try:
            self.server.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        except OSError:
            pass
        self.server.close()
        self.thread.join(2)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def fake_qmp():
    servers = []

    def make(replies=None, greet=True):
        server = FakeQmp(replies or {}, greet)
        servers.append(server)
        return server
    yield make
    for server in servers:
        server.close()


def test_qmp_negotiates_then_runs_command_skipping_events(fake_qmp):
    server = fake_qmp({"query-status": [
        {"event": "RTC_CHANGE", "data": {"offset": 0}, "timestamp": {"seconds": 1, "microseconds": 0}},
        {"return": {"running": True, "status": "running", "singlestep": False}},
    ]})
    assert qmp_command(server.path, "query-status", timeout=5) == {"running": True, "status": "running", "singlestep": False}
    assert server.received == [{"execute": "qmp_capabilities"}, {"execute": "query-status"}]


def test_qmp_passes_arguments(fake_qmp):
    server = fake_qmp()
    qmp_command(server.path, "human-monitor-command", {"command-line": "info version"}, timeout=5)
    assert server.received[1] == {"execute": "human-monitor-command", "arguments": {"command-line": "info version"}}


def test_qmp_system_powerdown(fake_qmp):
    server = fake_qmp()
    _qemu.system_powerdown(server.path, timeout=5)
    assert server.received[-1] == {"execute": "system_powerdown"}


def test_qmp_error_reply(fake_qmp):
    server = fake_qmp({"nope": [{"error": {"class": "CommandNotFound", "desc": "The command nope has not been found"}}]})
    with pytest.raises(QmpError, match="CommandNotFound"):
        qmp_command(server.path, "nope", timeout=5)


def test_qmp_timeout_without_greeting(fake_qmp):
    server = fake_qmp(greet=False)
    with pytest.raises(QmpError):
        qmp_command(server.path, "query-status", timeout=0.3)


def test_qmp_missing_socket():
    with pytest.raises(QmpError):
        qmp_command("/nonexistent/qmp.sock", "query-status", timeout=0.3)


def test_sandbox_denies_everything_qemu_can_deny():
    # qemu-options.hx, -sandbox: each group is allowed unless denied.
    assert values(parse_argv(build_argv(instance(), [])), "-sandbox") == [
        {"enable": "on", "obsolete": "deny", "elevateprivileges": "deny", "spawn": "deny", "resourcecontrol": "deny"}]


# First lines of `qemu-system-x86_64 --version`: upstream builds print the
# version alone, distributions append their package version (QEMU_PKGVERSION).
@pytest.mark.parametrize("line", [
    "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)",
    "QEMU emulator version 7.2.19 (Debian 1:7.2+dfsg-7+deb12u16)",
    "QEMU emulator version 7.2.15 (Debian 1:7.2+dfsg-7+deb12u14)",
    "QEMU emulator version 7.2.18",
    "QEMU emulator version 9.2.4",
    "QEMU emulator version 9.2.4 (Debian 1:9.2.4+ds-1)",
    "QEMU emulator version 10.0.0",
    "QEMU emulator version 10.1.2 (Debian 1:10.1.2+ds-1)",
    "QEMU emulator version 11.0.50 (v11.0.0-123-gdeadbeef)",
])
def test_version_accepted(line):
    assert version_problem(line) is None


@pytest.mark.parametrize("line", [
    "QEMU emulator version 7.2.15 (Debian 1:7.2+dfsg-7+deb12u13)",
    "QEMU emulator version 7.2.17",
    "QEMU emulator version 7.2.0",
    "QEMU emulator version 8.2.2 (Debian 1:8.2.2+ds-0ubuntu1.4)",
    "QEMU emulator version 9.0.2",
    "QEMU emulator version 9.1.3",
    "QEMU emulator version 9.2.3 (Debian 1:9.2.3+ds-1)",
    "QEMU emulator version 6.2.0 (Debian 1:6.2+dfsg-2ubuntu6.24)",
    # Ubuntu's 8.2 with a deb12u-like suffix is still 8.2: only Debian 12's 7.2 backport counts.
    "QEMU emulator version 8.2.2 (Debian 1:7.2+dfsg-7+deb12u20)",
])
def test_version_refused(line):
    problem = version_problem(line)
    assert problem.startswith("QEMU %s " % line.split()[3])
    assert "buffer overrun" in problem and "7.2.18, 9.2.4 or 10.0" in problem and line in problem


@pytest.mark.parametrize("line", ["", None, "qemu-system-x86_64: command not found", "QEMU emulator version"])
def test_version_unknown(line):
    assert version_problem(line).startswith("cannot tell the QEMU version")
