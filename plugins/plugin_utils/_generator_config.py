# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Options of the key-pair and command generators (``generate.type`` ssh, wireguard,
tls, ca and command), validated and normalised like the rest of _config.

Pure code; errors name the variable path, e.g.
``microvm_instances.web.credentials.host_key.generate.bits``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

from ansible_collections.microvm.credentials.plugins.plugin_utils._keypairs import (
    DEFAULT_CURVE,
    DEFAULT_RSA_BITS,
    ECDSA_CURVES,
    KEY_TYPES,
    RSA_MAX_BITS,
    RSA_MIN_BITS,
)
from ansible_collections.microvm.credentials.plugins.plugin_utils._validate import (
    ConfigError,
    _choice,
    _int,
    _list,
)

_KEY_OPTIONS = ("key_type", "bits", "curve")
GENERATE_KEYS = {
    "ssh": frozenset(("type", "comment") + _KEY_OPTIONS),
    "wireguard": frozenset(("type",)),
    "ca": frozenset(("type", "common_name", "days") + _KEY_OPTIONS),
    "tls": frozenset(("type", "common_name", "dns", "ips", "days", "ca") + _KEY_OPTIONS),
    "command": frozenset(("type", "argv", "inputs", "stdin", "output", "public_output", "timeout")),
}
# Kinds whose public half is stored beside the vault file; command when it has public_output.
PUBLIC_KINDS = ("ssh", "wireguard", "ca", "tls")
_DNS_RE = re.compile(r"(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_FILE_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
_COMMENT_RE = re.compile(r"[ -~]{0,256}")  # printable ASCII: it ends the public key line


def _text(path, value, regex, what):
    if not isinstance(value, str) or not regex.fullmatch(value):
        raise ConfigError(path, "must be %s, got %r" % (what, value))
    return value


def _key(path, spec, default_type):
    key_type = _choice(path + ".key_type", spec.get("key_type", default_type), KEY_TYPES)
    out = {"key_type": key_type, "bits": None, "curve": None}
    if "bits" in spec and key_type != "rsa":
        raise ConfigError(path + ".bits", "applies to key_type rsa only")
    if "curve" in spec and key_type != "ecdsa":
        raise ConfigError(path + ".curve", "applies to key_type ecdsa only")
    if key_type == "rsa":
        out["bits"] = _int(path + ".bits", spec.get("bits", DEFAULT_RSA_BITS), RSA_MIN_BITS, RSA_MAX_BITS)
    if key_type == "ecdsa":
        out["curve"] = _choice(path + ".curve", spec.get("curve", DEFAULT_CURVE), tuple(sorted(ECDSA_CURVES)))
    return out


def _common_name(path, spec, default):
    return _text(path + ".common_name", spec.get("common_name", default), re.compile(r"[^\x00-\x1f\x7f]{1,64}"),
                 "a common name of 1 to 64 printable characters")


def _ssh(path, spec, cred_id):
    out = _key(path, spec, "ed25519")
    out["comment"] = _text(path + ".comment", spec.get("comment", ""), _COMMENT_RE, "printable ASCII text of at most 256 characters")
    return out


def _ca(path, spec, cred_id):
    out = _key(path, spec, "ecdsa")
    out["common_name"] = _common_name(path, spec, cred_id)
    out["days"] = _int(path + ".days", spec.get("days", 3650), 1, 36500)
    return out


def _ips(path, values):
    for i, value in enumerate(values):
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise ConfigError("%s[%d]" % (path, i), "must be an IPv4 or IPv6 address, got %r" % (value,))
    return values


def _tls(path, spec, cred_id):
    out = _key(path, spec, "ecdsa")
    out["dns"] = [_text("%s.dns[%d]" % (path, i), name, _DNS_RE, "a DNS name")
                  for i, name in enumerate(_list(path + ".dns", spec.get("dns")))]
    out["ips"] = _ips(path + ".ips", _list(path + ".ips", spec.get("ips")))
    out["common_name"] = _common_name(path, spec, out["dns"][0] if out["dns"] else cred_id)
    out["days"] = _int(path + ".days", spec.get("days", 365), 1, 36500)
    out["ca"] = spec.get("ca")  # checked against the other credentials by check_references
    return out


def _argv(path, argv):
    argv = _list(path, argv)
    if not argv:
        raise ConfigError(path, "is required: the program and its arguments, as a list (no shell)")
    for i, arg in enumerate(argv):
        if not isinstance(arg, str) or "\x00" in arg:
            raise ConfigError("%s[%d]" % (path, i), "must be a string without NUL, got %r" % (arg,))
    return argv


def _output(path, value):
    return None if value is None else _text(path, value, _FILE_RE, "a file name of 1 to 128 characters [A-Za-z0-9._-]")


def _inputs(path, inputs):
    inputs = _list(path, inputs)
    for i, dep in enumerate(inputs):
        if not isinstance(dep, str) or dep in inputs[:i]:
            raise ConfigError("%s[%d]" % (path, i), "must be a credential id, each once, got %r" % (dep,))
    return inputs


def _command(path, spec, cred_id):
    out = {"argv": _argv(path + ".argv", spec.get("argv")), "inputs": _inputs(path + ".inputs", spec.get("inputs")),
           "stdin": spec.get("stdin"), "output": _output(path + ".output", spec.get("output")),
           "public_output": _output(path + ".public_output", spec.get("public_output")),
           "timeout": _int(path + ".timeout", spec.get("timeout", 60), 1, 3600)}
    if out["public_output"] is not None and out["output"] is None:
        raise ConfigError(path + ".public_output", "needs output: the secret then comes from $out/OUTPUT too")
    if out["public_output"] is not None and out["public_output"] == out["output"]:
        raise ConfigError(path + ".public_output", "must differ from output")
    if out["stdin"] is not None and out["stdin"] not in out["inputs"]:
        raise ConfigError(path + ".stdin", "must be one of inputs, got %r" % (out["stdin"],))
    return out


_NORMALIZERS = {"ssh": _ssh, "wireguard": lambda path, spec, cred_id: {}, "ca": _ca, "tls": _tls, "command": _command}


def normalize(path, kind, spec, cred_id):
    """Return the normalised options of the generator SPEC of KIND (a key of GENERATE_KEYS)."""
    out = {"type": kind}
    out.update(_NORMALIZERS[kind](path, spec, cred_id))
    return out


def has_public(spec):
    """True if the normalised generator SPEC makes a public half."""
    return spec["type"] in PUBLIC_KINDS or bool(spec.get("public_output"))


def check_references(path, creds):
    """Check that generators name credentials that exist and fit (a tls ca must be a ca).

    CREDS maps ids to normalised credentials; PATH is the credentials mapping's path.
    """
    for cred_id, cred in sorted(creds.items()):
        spec = cred.get("generate", {})
        gpath = "%s.%s.generate" % (path, cred_id)
        if spec.get("ca") is not None and creds.get(spec["ca"], {}).get("generate", {}).get("type") != "ca":
            raise ConfigError(gpath + ".ca", "must name a credential of this instance with generate.type ca, got %r" % (spec["ca"],))
        for i, dep in enumerate(spec.get("inputs", [])):
            if not isinstance(dep, str) or dep not in creds or dep == cred_id:
                raise ConfigError("%s.inputs[%d]" % (gpath, i), "must name another credential of this instance, got %r" % (dep,))
