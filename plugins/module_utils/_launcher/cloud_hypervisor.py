# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""cloud-hypervisor: the hypervisor interface (see hypervisors.py), its command line,
vm.create payload and REST API client.

Pure code, standard library only: the host role copies this file verbatim next
to the launcher.

cloud-hypervisor is started with the API socket only; the VM configuration,
OEM strings (secrets) included, goes over the UNIX socket with
``PUT /api/v1/vm.create`` and the VM starts with ``PUT /api/v1/vm.boot``.
Field names and endpoints follow vmm/src/api/openapi/cloud-hypervisor.yaml.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import socket
import time

from .smbios_limits import CLOUD_HYPERVISOR_LIMITS

NAME = "cloud-hypervisor"
DEFAULT_BINARY = "cloud-hypervisor"
# cloud-hypervisor has one x86 machine; the instance keeps QEMU's default so that its shape is one.
DEFAULT_MACHINE = "q35"
# One type 11 structure under the SMBIOS 3.0 entry point, below high RAM (smbios_limits).
OEM_LIMITS = CLOUD_HYPERVISOR_LIMITS
API_PREFIX = "/api/v1/"
API_TIMEOUT = 10.0

# FsConfig defaults in the API spec (num_queues 1, queue_size 1024); the spec
# lists both as required, so they are always sent.
_FS_NUM_QUEUES = 1
_FS_QUEUE_SIZE = 1024

# platform.oem_strings in vm.create (PlatformConfig) arrived in v26.
MINIMUM_VERSION = 26
_VERSION_RE = re.compile(r"^cloud-hypervisor v?(\d+)\.(\d+)")


def version_problem(version_line):
    """None if the first line of ``cloud-hypervisor --version`` names v26 or later, else why not."""
    line = (version_line or "").strip()
    match = _VERSION_RE.match(line)
    if not match:
        return "cannot tell the cloud-hypervisor version from %r; v%d or later is required" % (line[:200], MINIMUM_VERSION)
    if int(match.group(1)) < MINIMUM_VERSION:
        return "%s has no OEM strings (platform.oem_strings); v%d or later is required" % (line[:200], MINIMUM_VERSION)
    return None


class ApiError(Exception):
    """A cloud-hypervisor API request failed or returned an unexpected status."""

    def __init__(self, message, status=None, body=None):
        super(ApiError, self).__init__(message)
        self.status = status
        self.body = body


def build_argv(instance, binary=None, verbosity=0):
    """Return the cloud-hypervisor argv for INSTANCE: the API socket, seccomp and logging only.

    ``--api-socket path=SOCK`` (src/main.rs: "path=</path/to/a/file> or
    fd=<fd>").  Logs go to stderr (the journal): ``--log-file`` would truncate
    its file at every start (File::create in start_vmm()).  VERBOSITY adds that
    many ``-v`` (0 warn, 1 info, 2 debug, 3 trace); keep it low, debug output
    may include request data.
    """
    argv = [binary or instance.get("binary") or DEFAULT_BINARY,
            "--api-socket", "path=" + instance["api_socket"],
            # Per-thread seccomp filters (the default, made explicit so that it stays on).
            "--seccomp", "true"]
    argv += ["-v"] * int(verbosity)
    return argv


def vsock_socket_path(instance):
    """UNIX socket cloud-hypervisor proxies guest vsock connections to."""
    return os.path.join(instance["runtime_dir"], "vsock.sock")


def build_vm_config(instance, oem_strings):
    """Return the VmConfig dict for PUT /api/v1/vm.create.

    OEM_STRINGS (list of str) become platform.oem_strings; they are the only
    secret in the payload.
    """
    shares = instance.get("shares") or []

    payload = {}
    for key, field in (("kernel", "kernel"), ("initrd", "initramfs"), ("cmdline", "cmdline"), ("firmware", "firmware")):
        if instance.get(key):
            payload[field] = instance[key]

    vcpu = int(instance["vcpu"])
    config = {
        "cpus": {"boot_vcpus": vcpu, "max_vcpus": vcpu},
        # MemoryConfig.size is in bytes; vhost-user-fs needs shared guest RAM.
        "memory": {"size": int(instance["mem"]) * 1024 * 1024, "shared": bool(shares)},
        "payload": payload,
        "console": {"mode": "Off"},
    }

    disks = []
    for disk in instance.get("disks") or []:
        # The image format (raw, qcow2, vhdx) is detected from the file.
        disks.append({"path": disk["path"], "readonly": bool(disk.get("readonly"))})
    if disks:
        config["disks"] = disks

    nets = []
    for nic in instance.get("interfaces") or []:
        net = {"tap": nic["tap"]}
        if nic.get("mac"):
            net["mac"] = nic["mac"]
        nets.append(net)
    if nets:
        config["net"] = nets

    if shares:
        config["fs"] = [{"tag": share["tag"], "socket": share["socket"],
                         "num_queues": _FS_NUM_QUEUES, "queue_size": _FS_QUEUE_SIZE} for share in shares]

    if instance.get("vsock_cid") is not None:
        config["vsock"] = {"cid": int(instance["vsock_cid"]), "socket": vsock_socket_path(instance)}

    if instance.get("serial_log"):
        # Note: cloud-hypervisor opens the file with File::create (truncating),
        # see pre_create_console_devices() in vmm/src/console_devices.rs.
        config["serial"] = {"mode": "File", "file": instance["serial_log"]}
    else:
        config["serial"] = {"mode": "Null"}  # keep ttyS0, drop its output

    if oem_strings:
        config["platform"] = {"oem_strings": list(oem_strings)}
    return config


def _read_response(sock, deadline):
    """Read one HTTP/1.1 response; return (status, body bytes).

    cloud-hypervisor (micro_http) keeps the connection open, so the body is read
    by Content-Length and a response without it has no body, like
    parse_http_response() in api_client/src/lib.rs.
    """
    data = b""
    while b"\r\n\r\n" not in data:
        data += _recv(sock, deadline)
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("iso-8859-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        raise ApiError("malformed HTTP status line %r" % lines[0])
    try:
        status = int(parts[1])
    except ValueError:
        raise ApiError("malformed HTTP status line %r" % lines[0])
    length = None
    for line in lines[1:]:
        name, _sep, value = line.partition(":")
        if name.strip().lower() == "content-length":
            try:
                length = int(value.strip())
            except ValueError:
                raise ApiError("malformed Content-Length %r" % value)
    if length is None:
        return status, b""
    while len(body) < length:
        body += _recv(sock, deadline)
    return status, body[:length]


def _recv(sock, deadline):
    remaining = deadline - time.time()
    if remaining <= 0:
        raise ApiError("timeout waiting for the cloud-hypervisor API")
    sock.settimeout(remaining)
    chunk = sock.recv(65536)
    if not chunk:
        raise ApiError("cloud-hypervisor closed the API connection")
    return chunk


def api_request(sock_path, method, path, body=None, timeout=API_TIMEOUT):
    """Send one request to the cloud-hypervisor API on the UNIX socket SOCK_PATH.

    PATH is the full endpoint path, e.g. "/api/v1/vm.create".  BODY (any JSON
    value) is sent as application/json.  Returns (status, value) where value is
    the parsed JSON body, the body text if it is not JSON, or None if empty.
    Raises ApiError on I/O errors and timeouts.
    """
    data = json.dumps(body).encode("utf-8") if body is not None else None
    request = "%s %s HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n" % (method, path)
    if data is not None:
        request += "Content-Type: application/json\r\nContent-Length: %d\r\n" % len(data)
    request = request.encode("ascii") + b"\r\n" + (data or b"")

    deadline = time.time() + timeout
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(sock_path)
        sock.sendall(request)
        status, raw = _read_response(sock, deadline)
    except socket.timeout:
        raise ApiError("%s %s on %s: timeout after %ss" % (method, path, sock_path, timeout))
    except OSError as exc:
        raise ApiError("%s %s on %s: %s" % (method, path, sock_path, exc))
    finally:
        sock.close()
    if not raw:
        return status, None
    text = raw.decode("utf-8", "replace")
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def _call(sock_path, method, endpoint, expected, body=None, timeout=API_TIMEOUT):
    status, value = api_request(sock_path, method, API_PREFIX + endpoint, body, timeout)
    if status != expected:
        # Error bodies are cloud-hypervisor error chains, not the request.
        detail = value if isinstance(value, str) else json.dumps(value)
        raise ApiError("%s %s: HTTP %d (expected %d): %s" % (method, endpoint, status, expected, (detail or "")[:500]),
                       status, value)
    return value


def create_and_boot(sock_path, config, timeout=API_TIMEOUT):
    """PUT /vm.create (204) with CONFIG, then PUT /vm.boot (204)."""
    _call(sock_path, "PUT", "vm.create", 204, body=config, timeout=timeout)
    _call(sock_path, "PUT", "vm.boot", 204, timeout=timeout)


def power_button(sock_path, timeout=API_TIMEOUT):
    """PUT /vm.power-button (204): ACPI power button, the guest shuts down cleanly."""
    _call(sock_path, "PUT", "vm.power-button", 204, timeout=timeout)


def vm_info(sock_path, timeout=API_TIMEOUT):
    """GET /vm.info (200): {"config": VmConfig, "state": ...}.

    The returned config contains platform.oem_strings, i.e. the secrets:
    never log it.  404 (VM not created) raises ApiError with status 404.
    """
    return _call(sock_path, "GET", "vm.info", 200, timeout=timeout)


def vm_state(sock_path, timeout=API_TIMEOUT):
    """VmState of the VM: Created, Running, Shutdown, Paused or BreakPoint."""
    return vm_info(sock_path, timeout).get("state")


def vmm_shutdown(sock_path, timeout=API_TIMEOUT):
    """PUT /vmm.shutdown (204): stop the VMM process.

    The VMM may exit before its answer arrives; a closed or vanished socket
    counts as success.
    """
    try:
        _call(sock_path, "PUT", "vmm.shutdown", 204, timeout=timeout)
    except ApiError as exc:
        if exc.status is not None:
            raise


def wait_for_socket(path, timeout, interval=0.05):
    """Wait until a connection to the UNIX socket PATH succeeds; raise ApiError on timeout.

    cloud-hypervisor binds the API socket early in start_vmm(); newer releases
    no longer remove a stale socket file first, so the launcher removes it.
    """
    deadline = time.time() + timeout
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(max(min(interval * 10, deadline - time.time()), 0.001))
            sock.connect(path)
            return
        except (OSError, socket.timeout):
            if time.time() >= deadline:
                raise ApiError("API socket %s not ready after %ss" % (path, timeout))
        finally:
            sock.close()
        time.sleep(interval)


# -- the hypervisor interface (hypervisors.py) ------------------------------------

Error = ApiError


def resolve_accel(accel, kvm_probe=None):
    """Always kvm: cloud-hypervisor has no emulation (the unit's sandbox is KVM's)."""
    return "kvm"


def machine_problem(machine):
    """None: cloud-hypervisor ignores machine."""
    return None


def disk_problem(disk):
    """(option, why) the controller refuses the normalised DISK for, or None."""
    if disk["interface"] != "virtio":
        return "interface", "nvme disks need hypervisor qemu; cloud-hypervisor has virtio only"
    if disk["format"] != "raw":
        return "format", "cloud-hypervisor disks here must be raw"
    return None


def sandbox_lines(instance):
    """None beyond the common ones: vsock is a UNIX socket (vsock_socket_path), not /dev/vhost-vsock."""
    return []


def exec_argv(instance, binary, read_oem_strings):
    """The argv the launcher becomes: the API socket only; the OEM strings come with boot()."""
    return build_argv(instance, binary=binary)


def ready(sock_path):
    """True once the API socket takes connections."""
    try:
        wait_for_socket(sock_path, 0.5)
    except ApiError:
        return False
    return True


def boot(instance, read_oem_strings):
    """Create the VM with its OEM strings (READ_OEM_STRINGS()) over the API, and boot it."""
    create_and_boot(instance["api_socket"], build_vm_config(instance, read_oem_strings()))


def stop(sock_path, alive, wait, timeout):
    """Press the power button; WAIT(predicate, timeout, what) until ALIVE() is false or the VM is
    shut down; then stop the VMM if it still runs."""
    power_button(sock_path)
    wait(lambda: not alive() or vm_state(sock_path) == "Shutdown", timeout, "the guest to power off")
    if alive():
        vmm_shutdown(sock_path)
