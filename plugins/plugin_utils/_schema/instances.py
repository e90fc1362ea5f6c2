# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Validation and normalisation of the ``microvm_instances`` inventory variable.

Pure code, run on the controller before anything changes on a host. Every error
names the variable path the user has to fix, e.g.
``microvm_instances.web.credentials.db.generate.bytes``.
The normalised instance never holds a secret; host_view() is the part of it the host
is given (docs/design.md).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import posixpath
import re

from ansible_collections.microvm.credentials.plugins.module_utils._host.credstore import FILE_NAME_MAX, TEMP_EXTRA
from ansible_collections.microvm.credentials.plugins.module_utils._launcher import hypervisors as _hypervisors
from ansible_collections.microvm.credentials.plugins.module_utils._launcher.smbios import credential_name_of
from ansible_collections.microvm.credentials.plugins.plugin_utils._schema import authorized_keys as _authorized_keys
from ansible_collections.microvm.credentials.plugins.plugin_utils._generators import options as _generator_options
from ansible_collections.microvm.credentials.plugins.plugin_utils._generators import registry as _generators
from ansible_collections.microvm.credentials.plugins.plugin_utils._schema.graph import graph_of, inputs_of, order
from ansible_collections.microvm.credentials.plugins.plugin_utils._schema.guest_credentials import SMBIOS_IMPORT_VERSION, version_warnings
from ansible_collections.microvm.credentials.plugins.plugin_utils._schema.checks import (
    ConfigError,
    _bool,
    _choice,
    _dict,
    _int,
    _list,
    _unknown_keys,
)

ACCELS = ("auto", "kvm", "tcg")
DISK_FORMATS = ("raw", "qcow2")
DISK_INTERFACES = ("virtio", "nvme")
# Every pattern is used with fullmatch: '$' would also match before a final newline.
# The instance name is a systemd instance name, a path component and part of the
# user name microvm-NAME (at most 31 characters, so NAME has at most 23).
INSTANCE_NAME_MAX = 23
_INSTANCE_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,%d}" % (INSTANCE_NAME_MAX - 1))
_CRED_ID_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
_MAC_RE = re.compile(r"([0-9a-f]{2}:){5}[0-9a-f]{2}")
_TAP_RE = re.compile(r"[A-Za-z0-9_.-]{1,15}")  # IFNAMSIZ - 1
_TAG_RE = re.compile(r"[A-Za-z0-9_.-]{1,36}")  # virtio-fs tag is 36 bytes
# C0, DEL and C1: never meant in a path or a kernel command line, and they would
# split or garble the unit files, argv and logs these end up in.
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# The host credential directory appears unescaped in LoadCredentialEncrypted=, where
# '%' is a specifier and whitespace, quotes and '\\' have meaning.
_DIRECTORY_RE = re.compile(r"(/[A-Za-z0-9_.@+:=-]+)+")
PATH_MAX = 4096  # bytes, the terminating NUL included
# systemd accepts any printable ASCII except '/' and ':' (credential_name_valid());
# we accept a stricter set because the name also appears unescaped in unit files
# (LoadCredentialEncrypted=NAME:PATH), where '%', '\\', spaces and quotes have meaning.
_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._@+-]*")
# The host module's temporary file, not NAME.cred, is the longest file name on the host.
NAME_MAX = FILE_NAME_MAX - TEMP_EXTRA

INSTANCE_KEYS = frozenset((
    "hypervisor", "binary", "vcpu", "mem", "kernel", "initrd", "firmware", "cmdline", "accel", "machine",
    "disks", "interfaces", "shares", "vsock_cid", "credentials", "oem_strings", "stop_timeout", "autostart", "guest_systemd",
))
# Keys the controller alone uses: not part of the host's view (host_view()).
CONTROLLER_KEYS = frozenset(("credentials", "guest_systemd"))
CREDENTIAL_KEYS = frozenset(("name", "generate", "src", "authorized_keys", "binary", "inject", "inject_public")
                            + _generator_options.POLICY_KEYS)
SOURCES = ("generate", "src", "prompt", "authorized_keys")
VIRTIOFSD_RUNTIME_DIR = "/run/microvm-virtiofsd"


def _child(path, key):
    """The path of mapping key KEY under PATH; quoted when printing it as is would mislead."""
    if isinstance(key, str) and not _CONTROL_RE.search(key):
        return "%s.%s" % (path, key)
    return "%s[%r]" % (path, key)


def _abspath(path, value, required=False):
    if value is None:
        if required:
            raise ConfigError(path, "is required")
        return None
    if not isinstance(value, str) or not posixpath.isabs(value) or _CONTROL_RE.search(value) or "," in value:
        # ',' would split QEMU's and cloud-hypervisor's key=value option lists.
        raise ConfigError(path, "must be an absolute path without ',' or control characters, got %r" % (value,))
    return value


def _fullmatch(path, value, regex, what):
    if not isinstance(value, str) or not regex.fullmatch(value):
        raise ConfigError(path, "must be %s, got %r" % (what, value))
    return value


def _credential_name(path, name):
    """A guest credential NAME, safe in unit files, SMBIOS strings and the host's file names."""
    if not isinstance(name, str) or not name:
        raise ConfigError(path, "credential name must be a non-empty string")
    if len(name) > NAME_MAX:
        raise ConfigError(path, "credential name is %d characters long, at most %d are allowed" % (len(name), NAME_MAX))
    if name in (".", "..") or not _NAME_RE.fullmatch(name):
        raise ConfigError(path, "credential name %r is not valid: use letters, digits and '._@+-', not starting with '.', '@', '+' or '-'"
                          % name)
    return name


def _static_string(path, oem_string):
    """A static OEM string: any text an SMBIOS string can hold."""
    if not isinstance(oem_string, str):
        raise ConfigError(path, "OEM string must be a string, got %s" % type(oem_string).__name__)
    if not oem_string:
        raise ConfigError(path, "OEM string must not be empty (an empty SMBIOS string ends the string set)")
    # Other control characters stay allowed: an SMBIOS string ends only at NUL, systemd
    # takes a credential's value verbatim (a PEM file has newlines), QEMU's path= reads
    # the bytes as they are and cloud-hypervisor gets a JSON string.
    if "\x00" in oem_string:
        raise ConfigError(path, "OEM string must not contain a NUL character")
    name = credential_name_of(oem_string)
    if name is not None:
        _credential_name(path, name)
    return oem_string


def _generator(path, spec, cred_id):
    spec = _dict(path, spec)
    kind = _choice(path + ".type", spec.get("type"), tuple(sorted(_generators.selectable())))
    _unknown_keys(path, spec, _generators.kind(kind).KEYS)
    return _generators.normalize(path, kind, spec, cred_id)


def _credential(path, cred_id, spec):
    _fullmatch(path, cred_id, _CRED_ID_RE, "a credential id of 1 to 128 characters [A-Za-z0-9._-], not starting with '.' or '-'")
    spec = _dict(path, spec if spec is not None else {})
    _unknown_keys(path, spec, CREDENTIAL_KEYS)
    name = _credential_name(path + ".name", spec.get("name", cred_id))
    if len([key for key in SOURCES if key in spec]) != 1:
        raise ConfigError(path, "set exactly one of generate, src or prompt (or authorized_keys)")
    binary = spec.get("binary")
    if binary is not None:
        _bool(path + ".binary", binary)
    out = {
        "id": cred_id,
        "name": name,
        "binary": binary,
        "inject": _bool(path + ".inject", spec.get("inject", True)),
    }
    if "generate" in spec:
        out["generate"] = _generator(path + ".generate", spec["generate"], cred_id)
        binary_only = _generators.kind(out["generate"]["type"]).BINARY_ONLY
        if binary_only and binary is False:
            raise ConfigError(path + ".binary", "%s; drop binary: false" % binary_only)
    elif "prompt" in spec:
        out["generate"] = _generators.normalize(path + ".prompt", "prompt", {"prompt": spec["prompt"]}, cred_id)
    elif "authorized_keys" in spec:
        out["authorized_keys"] = _authorized_keys.normalize(path + ".authorized_keys", spec["authorized_keys"])
    else:
        src = spec["src"]
        if not isinstance(src, str) or not src:
            raise ConfigError(path + ".src", "must be a path to a file on the controller")
        out["src"] = src
    _generator_options.normalize_policy(path, spec, out)
    if "inject_public" in spec:
        out["inject_public"] = _inject_public(path + ".inject_public", spec["inject_public"], out.get("generate"))
    return out


def _inject_public(path, name, generate):
    if generate is None or not _generators.has_public(generate):
        halves = [one.PUBLIC_HALF for one in _generators.kinds().values() if one.PUBLIC_HALF]
        raise ConfigError(path, "needs a generator with a public half (%s)" % ", ".join(halves))
    return _credential_name(path, name)


def _public_credential(path, cred, ids):
    """The guest credential holding the public half of CRED (its inject_public)."""
    public_id = cred["id"] + ".pub"
    if public_id in ids:
        raise ConfigError(path + ".inject_public", "needs the credential id %s for the public half, which another credential has" % public_id)
    return {"id": public_id, "name": cred["inject_public"], "binary": False, "inject": True, "public_of": cred["id"]}


def _credentials(path, specs):
    specs = _dict(path, specs if specs is not None else {})
    creds = [_credential(_child(path, cred_id), cred_id, spec) for cred_id, spec in specs.items()]
    ids = dict((c["id"], c) for c in creds)
    creds += [_public_credential("%s.%s" % (path, c["id"]), c, ids) for c in list(creds) if c.get("inject_public")]
    names = {}
    for cred in creds:
        cpath = "%s.%s" % (path, cred["id"])
        if cred["inject"]:
            if cred["name"] in names:
                name_path = "%s.%s.inject_public" % (path, cred["public_of"]) if "public_of" in cred else cpath + ".name"
                raise ConfigError(name_path, "guest name %s is also used by credential %s" % (cred["name"], names[cred["name"]]))
            names[cred["name"]] = cred["id"]
    _generator_options.check_references(path, ids)
    _authorized_keys.check_references(path, ids)
    order(path, graph_of(creds))  # rejects cycles
    _generator_options.check_shared(path, ids, inputs_of)
    return sorted(creds, key=lambda c: c["id"])


def _disks(path, disks, hypervisor):
    """HYPERVISOR (its module) refuses what it cannot attach."""
    out = []
    for i, disk in enumerate(_list(path, disks)):
        dpath = "%s[%d]" % (path, i)
        disk = _dict(dpath, disk)
        _unknown_keys(dpath, disk, ("path", "readonly", "format", "interface"))
        out.append({
            "path": _abspath(dpath + ".path", disk.get("path"), required=True),
            "readonly": _bool(dpath + ".readonly", disk.get("readonly", False)),
            "format": _choice(dpath + ".format", disk.get("format", "raw"), DISK_FORMATS),
            "interface": _choice(dpath + ".interface", disk.get("interface", "virtio"), DISK_INTERFACES),
        })
        problem = hypervisor.disk_problem(out[-1])
        if problem is not None:
            raise ConfigError("%s.%s" % (dpath, problem[0]), problem[1])
    return out


def _interfaces(path, interfaces):
    out = []
    for i, nic in enumerate(_list(path, interfaces)):
        npath = "%s[%d]" % (path, i)
        nic = _dict(npath, nic)
        _unknown_keys(npath, nic, ("tap", "mac"))
        tap = _fullmatch(npath + ".tap", nic.get("tap"), _TAP_RE, "an interface name of 1 to 15 characters [A-Za-z0-9_.-]")
        mac = nic.get("mac")
        if mac is not None and (not isinstance(mac, str) or not _MAC_RE.fullmatch(mac.lower())):
            raise ConfigError(npath + ".mac", "must be a MAC address like 52:54:00:12:34:56, got %r" % (mac,))
        out.append({"tap": tap, "mac": mac.lower() if mac else None})
    return out


def _shares(path, shares, name):
    out = []
    for i, share in enumerate(_list(path, shares)):
        spath = "%s[%d]" % (path, i)
        share = _dict(spath, share)
        _unknown_keys(spath, share, ("tag", "source"))
        tag = _fullmatch(spath + ".tag", share.get("tag"), _TAG_RE, "1 to 36 characters [A-Za-z0-9_.-]")
        if tag in [s["tag"] for s in out]:
            raise ConfigError(spath + ".tag", "tag %s is used twice" % tag)
        out.append({
            "tag": tag,
            "source": _abspath(spath + ".source", share.get("source"), required=True),
            # virtiofsd runs in its own unit, started before the VM's RuntimeDirectory exists,
            # as the instance's user, in the instance's own directory (its unit's RuntimeDirectory=).
            "socket": "%s/%s/%s.sock" % (VIRTIOFSD_RUNTIME_DIR, name, tag),
        })
    return out


def _oem_strings(path, strings, guest_names):
    """Static strings; a credential one sets must be set nowhere else (GUEST_NAMES: the injected credentials)."""
    out, names = [], {}
    for i, oem_string in enumerate(_list(path, strings)):
        spath = "%s[%d]" % (path, i)
        name = credential_name_of(_static_string(spath, oem_string))
        if name in guest_names:
            raise ConfigError(spath, "sets credential %s, which %s.credentials also sets" % (name, path.rsplit(".", 1)[0]))
        if name is not None and name in names:
            raise ConfigError(spath, "credential %s is set twice (also by %s)" % (name, names[name]))
        names[name] = spath
        out.append(oem_string)
    return out


def _guest_systemd(path, version):
    """The guest's systemd release the user declares (an integer), or None when unknown."""
    if version is None:
        return None
    _int(path, version, 1, 100000)
    if version < SMBIOS_IMPORT_VERSION:
        raise ConfigError(path, "systemd %d does not import SMBIOS type 11 credentials; the guest needs systemd %d or later"
                          % (version, SMBIOS_IMPORT_VERSION))
    return version


def normalize_instance(name, spec, var_name="microvm_instances", defaults=None):
    """Return the normalised instance NAME (see docs/design.md) or raise ConfigError."""
    path = _child(var_name, name)
    _fullmatch(path, name, _INSTANCE_RE, "an instance name of 1 to %d characters [a-z0-9_-], starting with a letter or digit"
               % INSTANCE_NAME_MAX)
    merged = dict(defaults or {})
    merged.update(_dict(path, spec if spec is not None else {}))
    _unknown_keys(path, merged, INSTANCE_KEYS)
    hypervisor = _choice(path + ".hypervisor", merged.get("hypervisor", _hypervisors.DEFAULT), tuple(sorted(_hypervisors.HYPERVISORS)))
    module = _hypervisors.HYPERVISORS[hypervisor]
    machine = merged.get("machine", module.DEFAULT_MACHINE)
    if module.machine_problem(machine) is not None:
        raise ConfigError(path + ".machine", module.machine_problem(machine))
    runtime_dir = "/run/microvm/" + name
    kernel = _abspath(path + ".kernel", merged.get("kernel"))
    firmware = _abspath(path + ".firmware", merged.get("firmware"))
    if kernel is None and firmware is None:
        raise ConfigError(path + ".kernel", "set kernel (direct kernel boot) or firmware")
    cmdline = merged.get("cmdline", "console=ttyS0")
    if not isinstance(cmdline, str) or _CONTROL_RE.search(cmdline):
        # The kernel splits its command line at any whitespace: a newline or tab there is a typo.
        raise ConfigError(path + ".cmdline", "must be a single-line string without control characters")
    vsock_cid = merged.get("vsock_cid")
    if vsock_cid is not None:
        _int(path + ".vsock_cid", vsock_cid, 3, 0xFFFFFFFE)  # 0-2 are reserved, -1 is VMADDR_CID_ANY
    binary = merged.get("binary")
    if binary is not None:
        _abspath(path + ".binary", binary)
    credentials = _credentials(path + ".credentials", merged.get("credentials"))
    instance = {
        "name": name,
        "hypervisor": hypervisor,
        "binary": binary,
        "vcpu": _int(path + ".vcpu", merged.get("vcpu", 1), 1, 255),
        "mem": _int(path + ".mem", merged.get("mem", 512), 64, 1 << 22),
        "kernel": kernel,
        "initrd": _abspath(path + ".initrd", merged.get("initrd")),
        "firmware": firmware,
        "cmdline": cmdline,
        "accel": _choice(path + ".accel", merged.get("accel", "auto"), ACCELS),
        "machine": machine,
        "disks": _disks(path + ".disks", merged.get("disks"), module),
        "interfaces": _interfaces(path + ".interfaces", merged.get("interfaces")),
        "shares": _shares(path + ".shares", merged.get("shares"), name),
        "vsock_cid": vsock_cid,
        "credentials": credentials,
        "oem_strings": _oem_strings(path + ".oem_strings", merged.get("oem_strings"),
                                    set(c["name"] for c in credentials if c["inject"])),
        "runtime_dir": runtime_dir,
        "state_dir": "/var/lib/microvm/" + name,
        "serial_log": "/var/log/microvm/%s/serial.log" % name,
        "api_socket": runtime_dir + "/api.sock",
        "stop_timeout": _int(path + ".stop_timeout", merged.get("stop_timeout", 30), 1, 3600),
        "autostart": _bool(path + ".autostart", merged.get("autostart", True)),
        "guest_systemd": _guest_systemd(path + ".guest_systemd", merged.get("guest_systemd")),
    }
    return instance


def guest_warnings(instance, var_name="microvm_instances"):
    """Warnings about normalised INSTANCE that do not stop a run: credentials its declared
    guest_systemd does not read yet, each named by the variable that sets it."""
    path = _child(var_name, instance["name"])
    names = {}
    for cred in instance["credentials"]:
        if cred["inject"]:
            where = "%s.inject_public" % cred["public_of"] if "public_of" in cred else "%s.name" % cred["id"]
            names[cred["name"]] = "%s.credentials.%s" % (path, where)
    for i, oem_string in enumerate(instance["oem_strings"]):
        name = credential_name_of(oem_string)
        if name is not None:
            names[name] = "%s.oem_strings[%d]" % (path, i)
    return version_warnings(instance["guest_systemd"], names)


def host_view(instance):
    """What the host is given of a normalised INSTANCE: no generator, no controller path.

    Its credentials are those the guest gets (inject), by guest name: the launcher reads
    $CREDENTIALS_DIRECTORY/NAME, the unit loads DIRECTORY/INSTANCE/NAME.cred.
    """
    view = dict((k, v) for k, v in instance.items() if k not in CONTROLLER_KEYS)
    view["credentials"] = [{"name": c["name"], "binary": c["binary"]} for c in instance["credentials"] if c["inject"]]
    return view


def host_views(instances, var_name="microvm_instances"):
    """The host's view of each instance of the variable VAR_NAME's value INSTANCES, validated:
    what the instances_config filter returns and the microvm_instances module takes."""
    return [host_view(i) for i in normalize_instances(instances, var_name)]


def _overlap(a, b):
    return a == b or a.startswith(b.rstrip("/") + "/") or b.startswith(a.rstrip("/") + "/")


def _check_share_sources(var_name, instance, sources):
    """The module gives each share's directory to its instance's user (0700), whose virtiofsd
    reads nothing else: a directory, or one inside it, cannot serve two instances.
    SOURCES maps the sources seen so far to (instance name, variable path)."""
    for i, share in enumerate(instance["shares"]):
        here = "%s.%s.shares[%d]" % (var_name, instance["name"], i)
        source = posixpath.normpath(share["source"])
        for other, (owner, where) in sorted(sources.items()):
            if owner != instance["name"] and _overlap(source, other):
                raise ConfigError(here + ".source", "%s overlaps %s, the share source of %s; each share's directory belongs "
                                                    "to one instance's user" % (share["source"], other, where))
        sources.setdefault(source, (instance["name"], here))


def normalize_instances(instances, var_name="microvm_instances", defaults=None):
    """Return the normalised instances of the mapping INSTANCES, sorted by name."""
    if instances is None:
        return []
    _dict(var_name, instances)
    instances_out = [normalize_instance(name, spec, var_name, defaults) for name, spec in sorted(instances.items(), key=lambda kv: str(kv[0]))]
    cids, disks, sources = {}, {}, {}
    for instance in instances_out:
        cid = instance["vsock_cid"]
        if cid is not None:
            if cid in cids:
                raise ConfigError("%s.%s.vsock_cid" % (var_name, instance["name"]), "CID %d is also used by %s" % (cid, cids[cid]))
            cids[cid] = instance["name"]
        _check_share_sources(var_name, instance, sources)
        for i, disk in enumerate(instance["disks"]):
            # The module makes each disk its instance's user's own (0600): a disk cannot serve two.
            if disk["path"] in disks:
                raise ConfigError("%s.%s.disks[%d].path" % (var_name, instance["name"], i),
                                  "%s is also a disk of %s; each disk belongs to one instance's user" % (disk["path"], disks[disk["path"]]))
            disks[disk["path"]] = "%s.%s.disks[%d]" % (var_name, instance["name"], i)
    _generator_options.check_shared_across(var_name, instances_out)
    return instances_out


def check_credential_directory(directory, instances, var_name="microvm_credential_directory"):
    """Raise ConfigError unless the host DIRECTORY is usable for every credential of INSTANCES.

    The longest host path is the host module's temporary file
    DIRECTORY/INSTANCE/.NAME.cred.XXXXXXXX.tmp, which must fit PATH_MAX.
    """
    if not isinstance(directory, str) or not _DIRECTORY_RE.fullmatch(directory) or posixpath.normpath(directory) != directory:
        raise ConfigError(var_name, "must be an absolute, normalised path of letters, digits and '/_.@+:=-', got %r" % (directory,))
    long_component = [c for c in directory.split("/") if len(c.encode("utf-8")) > FILE_NAME_MAX]
    if long_component:
        raise ConfigError(var_name, "has a path component longer than %d bytes" % FILE_NAME_MAX)
    for instance in instances:
        for cred in instance["credentials"]:
            if not cred["inject"]:
                continue
            longest = len(posixpath.join(directory, instance["name"], cred["name"]).encode("utf-8")) + TEMP_EXTRA
            if longest > PATH_MAX - 1:
                raise ConfigError(var_name, "is too long: the host path of credential %s/%s would take %d bytes with its "
                                            "temporary suffix, at most %d are possible" % (instance["name"], cred["name"], longest, PATH_MAX - 1))
    return directory
