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
import time

import pytest

from ansible_collections.microvm.credentials.plugins.module_utils._launcher import cloud_hypervisor as ch
from ansible_collections.microvm.credentials.plugins.module_utils._launcher.cloud_hypervisor import (
    ApiError,
    api_request,
    build_argv,
    build_vm_config,
)
from ansible_collections.microvm.credentials.plugins.plugin_utils._schema.instances import host_view, normalize_instance

SECRET = "io.systemd.credential:db.password=s3cr3t-value"


def instance(**overrides):
    """The host view the launcher loads (see render.desired_files), OVERRIDES set on it."""
    spec = {
        "hypervisor": "cloud-hypervisor",
        "vcpu": 2,
        "mem": 256,
        "kernel": "/srv/microvm/vmlinux",
        "initrd": "/srv/microvm/initrd.img",
        "cmdline": "console=ttyS0 root=/dev/vda rw",
        "disks": [{"path": "/var/lib/microvm/web/root.raw"}, {"path": "/srv/seed.img", "readonly": True}],
        "interfaces": [{"tap": "vm-web0", "mac": "52:54:00:12:34:56"}],
        "shares": [{"tag": "data", "source": "/srv/data"}],
        "vsock_cid": 42,
        "credentials": {"db-pass": {"name": "db.password", "binary": False, "src": "/srv/db-pass"}},
        "oem_strings": ["io.systemd.stub.kernel-cmdline-extra=quiet"],
    }
    inst = host_view(normalize_instance("web", spec))
    inst.update(overrides)
    return inst


# --- VmConfig schema ---------------------------------------------------------
#
# Transcribed from vmm/src/api/openapi/cloud-hypervisor.yaml (cloud-hypervisor
# main, components/schemas): only the schemas and properties this collection
# sends, with their types, required lists, enums and minimums.  "$X" refers to
# schema X, ["$X"] to an array of X.

SCHEMAS = {
    "VmConfig": {"required": ["payload"], "properties": {
        "cpus": "$CpusConfig", "memory": "$MemoryConfig", "payload": "$PayloadConfig",
        "disks": ["$DiskConfig"], "net": ["$NetConfig"], "fs": ["$FsConfig"], "vsock": "$VsockConfig",
        "serial": "$SerialConfig", "console": "$ConsoleConfig", "platform": "$PlatformConfig"}},
    "CpusConfig": {"required": ["boot_vcpus", "max_vcpus"], "properties": {
        "boot_vcpus": ("integer", 1), "max_vcpus": ("integer", 1)}},
    "MemoryConfig": {"required": ["size"], "properties": {"size": "integer", "shared": "boolean"}},
    "PayloadConfig": {"required": [], "properties": {
        "firmware": "string", "kernel": "string", "cmdline": "string", "initramfs": "string"}},
    "DiskConfig": {"required": [], "properties": {"path": "string", "readonly": "boolean"}},
    "NetConfig": {"required": [], "properties": {"tap": "string", "mac": "string"}},
    "FsConfig": {"required": ["num_queues", "queue_size", "socket", "tag"], "properties": {
        "tag": "string", "socket": "string", "num_queues": "integer", "queue_size": "integer"}},
    "VsockConfig": {"required": ["cid", "socket"], "properties": {"cid": ("integer", 3), "socket": "string"}},
    "ConsoleMode": ["Off", "Pty", "Tty", "File", "Socket", "Null"],
    "SerialConfig": {"required": ["mode"], "properties": {"file": "string", "mode": "$ConsoleMode"}},
    "ConsoleConfig": {"required": ["mode"], "properties": {"file": "string", "mode": "$ConsoleMode"}},
    "PlatformConfig": {"required": [], "properties": {"oem_strings": ["string"]}},
}

INT64_MAX = 2 ** 63 - 1


def check(value, spec, where):
    """Assert VALUE conforms to SPEC (see SCHEMAS); WHERE names the place for messages."""
    if isinstance(spec, list) and len(spec) == 1:
        assert isinstance(value, list), "%s: expected array" % where
        for n, item in enumerate(value):
            check(item, spec[0], "%s[%d]" % (where, n))
        return
    minimum = None
    if isinstance(spec, tuple):
        spec, minimum = spec
    if spec.startswith("$"):
        schema = SCHEMAS[spec[1:]]
        if isinstance(schema, list):
            assert value in schema, "%s: %r not in enum %s" % (where, value, spec)
            return
        assert isinstance(value, dict), "%s: expected object" % where
        for key in value:
            assert key in schema["properties"], "%s: %s is not a property of %s" % (where, key, spec[1:])
            check(value[key], schema["properties"][key], "%s.%s" % (where, key))
        for key in schema["required"]:
            assert key in value, "%s: required %s missing" % (where, key)
        return
    if spec == "integer":
        assert isinstance(value, int) and not isinstance(value, bool) and -INT64_MAX - 1 <= value <= INT64_MAX, "%s: expected integer" % where
        if minimum is not None:
            assert value >= minimum, "%s: below minimum %d" % (where, minimum)
    elif spec == "boolean":
        assert isinstance(value, bool), "%s: expected boolean" % where
    elif spec == "string":
        assert isinstance(value, str), "%s: expected string" % where
    else:
        raise AssertionError("bad spec %r" % spec)


def test_full_config_matches_api_schema():
    config = build_vm_config(instance(), ["a=1", SECRET])
    check(config, "$VmConfig", "VmConfig")
    # and it is JSON serialisable as sent
    assert json.loads(json.dumps(config)) == config


def test_config_values():
    config = build_vm_config(instance(), [SECRET])
    assert config["cpus"] == {"boot_vcpus": 2, "max_vcpus": 2}
    assert config["memory"] == {"size": 256 * 1024 * 1024, "shared": True}
    assert config["payload"] == {"kernel": "/srv/microvm/vmlinux", "initramfs": "/srv/microvm/initrd.img",
                                 "cmdline": "console=ttyS0 root=/dev/vda rw"}
    assert config["disks"] == [{"path": "/var/lib/microvm/web/root.raw", "readonly": False},
                               {"path": "/srv/seed.img", "readonly": True}]
    assert config["net"] == [{"tap": "vm-web0", "mac": "52:54:00:12:34:56"}]
    assert config["fs"] == [{"tag": "data", "socket": "/run/microvm-virtiofsd/web/data.sock", "num_queues": 1, "queue_size": 1024}]
    assert config["vsock"] == {"cid": 42, "socket": "/run/microvm/web/vsock.sock"}
    assert config["serial"] == {"mode": "File", "file": "/var/log/microvm/web/serial.log"}
    assert config["console"] == {"mode": "Off"}
    assert config["platform"] == {"oem_strings": [SECRET]}


def test_minimal_config_matches_schema():
    inst = instance(initrd=None, cmdline=None, disks=[], interfaces=[], shares=[], vsock_cid=None, serial_log=None)
    config = build_vm_config(inst, [])
    check(config, "$VmConfig", "VmConfig")
    assert config["memory"]["shared"] is False
    for key in ("disks", "net", "fs", "vsock", "platform"):
        assert key not in config
    assert config["payload"] == {"kernel": "/srv/microvm/vmlinux"}


def test_firmware_payload():
    config = build_vm_config(instance(kernel=None, initrd=None, cmdline=None, firmware="/usr/share/cloud-hypervisor/CLOUDHV.fd"), [])
    check(config, "$VmConfig", "VmConfig")
    assert config["payload"] == {"firmware": "/usr/share/cloud-hypervisor/CLOUDHV.fd"}


# --- command line --------------------------------------------------------------
#
# src/main.rs: --api-socket takes "path=</path/to/a/file> or fd=<fd>", parsed by
# OptionParser with options "path" and "fd" (option_parser/src/lib.rs:
# split_commas() splits at ',' outside "..." and [...], then "key=value").

def option_parser(value, known):
    items, current, depth, quoted = [], "", 0, False
    for c in value.strip():
        if c == "[":
            depth += 1
        elif c == "]":
            depth -= 1
        if c == '"':
            quoted = not quoted
        elif c == "," and not depth and not quoted:
            items.append(current)
            current = ""
        else:
            current += c
    items.append(current)
    result = {}
    for item in items:
        key, sep, val = item.partition("=")
        assert key in known and sep, "%r is not valid for this option" % item
        result[key] = val.strip()
    return result


def test_argv_is_api_socket_and_seccomp_only():
    argv = build_argv(instance())
    assert argv[0] == "cloud-hypervisor"
    assert argv[1:3] == ["--api-socket", "path=/run/microvm/web/api.sock"]
    assert option_parser(argv[2], {"path", "fd"}) == {"path": "/run/microvm/web/api.sock"}
    # src/main.rs: --seccomp takes true, false or log.
    assert argv[3:] == ["--seccomp", "true"]
    for forbidden in ("--kernel", "--disk", "--platform", "--cmdline", "--memory", "--cpus"):
        assert forbidden not in argv
    assert "s3cr3t" not in " ".join(argv)


def test_argv_verbosity_and_binary():
    assert build_argv(instance(), verbosity=2)[5:] == ["-v", "-v"]
    assert build_argv(instance(binary="/opt/ch/cloud-hypervisor"))[0] == "/opt/ch/cloud-hypervisor"
    assert build_argv(instance(binary="/a"), binary="/b")[0] == "/b"


# The first line of `cloud-hypervisor --version` is clap's "NAME VERSION"; the
# version is `git describe` of the release (build.rs), "v" + the crate version otherwise.
@pytest.mark.parametrize("line", ["cloud-hypervisor v41.0.0", "cloud-hypervisor v26.0", "cloud-hypervisor v43.0-12-gabcdef0-dirty",
                                  "cloud-hypervisor 48.0.0", "cloud-hypervisor v100.0.0\n"])
def test_version_accepted(line):
    assert ch.version_problem(line) is None


@pytest.mark.parametrize("line, expected", [
    ("cloud-hypervisor v25.0", "cloud-hypervisor v25.0 has no OEM strings (platform.oem_strings); v26 or later is required"),
    ("cloud-hypervisor v0.14.1", "v26 or later"),
    ("", "cannot tell the cloud-hypervisor version from ''"),
    ("QEMU emulator version 9.2.4", "cannot tell the cloud-hypervisor version"),
    (None, "cannot tell"),
])
def test_version_refused(line, expected):
    assert expected in ch.version_problem(line)


# --- API client against a fake HTTP/1.1 server ---------------------------------

class FakeApi(object):
    """A UNIX socket HTTP/1.1 server answering like cloud-hypervisor's micro_http.

    It keeps connections open after answering, so a client that waits for EOF
    instead of using Content-Length would hang.
    """

    def __init__(self, routes):
        self.dir = tempfile.mkdtemp(prefix="chapi", dir="/tmp")
        self.path = os.path.join(self.dir, "api.sock")
        self.routes = routes  # (method, path) -> (status, body bytes or None) or "close"
        self.requests = []
        self.conns = []
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(self.path)
        self.server.listen(8)
        self.thread = threading.Thread(target=self.serve)
        self.thread.daemon = True
        self.thread.start()

    def serve(self):
        while True:
            try:
                conn, _addr = self.server.accept()
            except OSError:
                return
            self.conns.append(conn)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
            if not data:
                conn.close()  # a connect-only probe (wait_for_socket)
                continue
            head, _sep, body = data.partition(b"\r\n\r\n")
            lines = head.decode().split("\r\n")
            method, path, version = lines[0].split(" ")
            headers = dict((k.strip().lower(), v.strip()) for k, _s, v in (line.partition(":") for line in lines[1:]))
            length = int(headers.get("content-length", "0"))
            while len(body) < length:
                body += conn.recv(4096)
            self.requests.append({"method": method, "path": path, "version": version, "headers": headers, "body": body})
            answer = self.routes.get((method, path), (404, None))
            if answer == "close":
                conn.close()
                continue
            if answer == "hang":
                continue
            status, payload = answer
            response = "HTTP/1.1 %d X\r\nServer: Cloud Hypervisor API\r\nConnection: keep-alive\r\n" % status
            if payload is not None:
                response += "Content-Type: application/json\r\nContent-Length: %d\r\n" % len(payload)
            conn.sendall(response.encode() + b"\r\n" + (payload or b""))

    def close(self):
        try:
            self.server.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        except OSError:
            pass
        self.server.close()
        for conn in self.conns:
            conn.close()
        self.thread.join(2)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def fake_api():
    servers = []

    def make(routes):
        server = FakeApi(routes)
        servers.append(server)
        return server
    yield make
    for server in servers:
        server.close()


def test_api_request_put_json_body(fake_api):
    server = fake_api({("PUT", "/api/v1/vm.create"): (204, None)})
    started = time.time()
    assert api_request(server.path, "PUT", "/api/v1/vm.create", {"a": [1]}, timeout=5) == (204, None)
    assert time.time() - started < 2  # did not wait for EOF on the kept-alive connection
    request = server.requests[0]
    assert request["version"] == "HTTP/1.1"
    assert request["headers"]["content-type"] == "application/json"
    assert json.loads(request["body"].decode()) == {"a": [1]}


def test_api_request_get_parses_json(fake_api):
    server = fake_api({("GET", "/api/v1/vmm.ping"): (200, b'{"version":"v43.0","pid":7}')})
    assert api_request(server.path, "GET", "/api/v1/vmm.ping", timeout=5) == (200, {"version": "v43.0", "pid": 7})
    assert "content-length" not in server.requests[0]["headers"]


def test_create_and_boot_sequence(fake_api):
    server = fake_api({("PUT", "/api/v1/vm.create"): (204, None), ("PUT", "/api/v1/vm.boot"): (204, None)})
    config = build_vm_config(instance(), [SECRET])
    ch.create_and_boot(server.path, config, timeout=5)
    assert [(r["method"], r["path"]) for r in server.requests] == [("PUT", "/api/v1/vm.create"), ("PUT", "/api/v1/vm.boot")]
    assert json.loads(server.requests[0]["body"].decode()) == config
    assert server.requests[1]["body"] == b""


def test_create_error_raises_with_status(fake_api):
    server = fake_api({("PUT", "/api/v1/vm.create"): (500, b'["Error creating VM","Invalid disk path"]')})
    with pytest.raises(ApiError) as err:
        ch.create_and_boot(server.path, {"payload": {"kernel": "/k"}}, timeout=5)
    assert err.value.status == 500
    assert err.value.body == ["Error creating VM", "Invalid disk path"]
    assert len(server.requests) == 1  # no vm.boot after a failed vm.create


def test_power_button_info_state(fake_api):
    info = {"config": {"payload": {"kernel": "/k"}}, "state": "Running"}
    server = fake_api({("PUT", "/api/v1/vm.power-button"): (204, None),
                       ("GET", "/api/v1/vm.info"): (200, json.dumps(info).encode())})
    ch.power_button(server.path, timeout=5)
    assert ch.vm_info(server.path, timeout=5) == info
    assert ch.vm_state(server.path, timeout=5) == "Running"


def test_vm_info_not_created(fake_api):
    server = fake_api({})
    with pytest.raises(ApiError) as err:
        ch.vm_info(server.path, timeout=5)
    assert err.value.status == 404


def test_vmm_shutdown_tolerates_vmm_exiting(fake_api):
    server = fake_api({("PUT", "/api/v1/vmm.shutdown"): "close"})
    ch.vmm_shutdown(server.path, timeout=5)
    server = fake_api({("PUT", "/api/v1/vmm.shutdown"): (204, None)})
    ch.vmm_shutdown(server.path, timeout=5)
    ch.vmm_shutdown("/nonexistent/api.sock", timeout=0.2)  # already gone


def test_api_connection_closed_and_timeout(fake_api):
    server = fake_api({("GET", "/api/v1/vm.info"): "close", ("GET", "/api/v1/vmm.ping"): "hang"})
    with pytest.raises(ApiError):
        api_request(server.path, "GET", "/api/v1/vm.info", timeout=2)
    started = time.time()
    with pytest.raises(ApiError, match="timeout"):
        api_request(server.path, "GET", "/api/v1/vmm.ping", timeout=0.3)
    assert time.time() - started < 2


def test_wait_for_socket(fake_api):
    server = fake_api({})
    ch.wait_for_socket(server.path, timeout=2)
    started = time.time()
    with pytest.raises(ApiError):
        ch.wait_for_socket("/nonexistent/api.sock", timeout=0.2)
    assert time.time() - started < 2
