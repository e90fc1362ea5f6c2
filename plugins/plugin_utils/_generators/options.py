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

import hashlib
import ipaddress
import json
import re

from ansible_collections.microvm.credentials.plugins.plugin_utils._generators.keypairs import (
    DEFAULT_CURVE,
    DEFAULT_RSA_BITS,
    ECDSA_CURVES,
    KEY_TYPES,
    RSA_MAX_BITS,
    RSA_MIN_BITS,
)
from ansible_collections.microvm.credentials.plugins.plugin_utils._schema.checks import (
    ConfigError,
    _bool,
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


# -- what a credential is made by, where it lives, and when it is made anew ---------

SCOPES = ("instance", "shared")
POLICY_KEYS = ("scope", "shared_name", "prompt", "max_age", "renew_before", "regenerate_on_change", "not_after")
_SHARED_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
_PROMPT_RE = re.compile(r"[^\x00-\x1f\x7f-\x9f]{1,200}")
_DURATION_RE = re.compile(r"([1-9][0-9]{0,8})([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# Ends are computed as datetimes and passed to systemd-creds --not-after: far beyond any
# real policy, and far below what datetime arithmetic overflows at (year 9999).
MAX_DURATION = 36525 * _UNITS["d"]  # 100 years
CERTIFICATE_KINDS = ("ca", "tls")


def duration(path, value):
    """Seconds of a duration NUMBER+UNIT (s, m, h, d or w), e.g. 90d."""
    match = _DURATION_RE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ConfigError(path, "must be a duration: a whole number and a unit s, m, h, d or w (e.g. 90d or 12h), got %r" % (value,))
    seconds = int(match.group(1)) * _UNITS[match.group(2)]
    if seconds > MAX_DURATION:
        raise ConfigError(path, "must be at most 100 years (36525d), got %r" % (value,))
    return seconds


def prompt_generator(path, text):
    """The generator of a prompted credential: the operator types its value once."""
    return {"type": "prompt", "prompt": _text(path, text, _PROMPT_RE, "one line of 1 to 200 printable characters")}


def normalize_policy(path, spec, cred):
    """Add scope, shared_name, max_age, renew_before, regenerate_on_change and not_after of SPEC
    to the normalised credential CRED (with its generate already normalised, if it has one)."""
    scope = _choice(path + ".scope", spec.get("scope", "instance"), SCOPES)
    cred["scope"] = scope
    generate = cred.get("generate")
    if scope == "shared":
        if generate is None:
            raise ConfigError(path + ".scope", "shared needs generate or prompt: a src file is already the same everywhere")
        cred["shared_name"] = _text(path + ".shared_name", spec.get("shared_name", cred["id"]), _SHARED_NAME_RE,
                                    "a name of 1 to 128 characters [A-Za-z0-9._-], not starting with '.' or '-'")
    elif "shared_name" in spec:
        raise ConfigError(path + ".shared_name", "applies to scope shared only")
    for key in ("max_age", "renew_before", "regenerate_on_change", "not_after"):
        if key in spec and generate is None:
            raise ConfigError(path + "." + key, "applies to generated or prompted credentials only")
    cred["regenerate_on_change"] = _bool(path + ".regenerate_on_change", spec.get("regenerate_on_change", False))
    cred["max_age"] = duration(path + ".max_age", spec["max_age"]) if "max_age" in spec else None
    cred["renew_before"] = None
    if "renew_before" in spec:
        if generate["type"] not in CERTIFICATE_KINDS:
            raise ConfigError(path + ".renew_before", "applies to generate.type tls or ca only")
        cred["renew_before"] = duration(path + ".renew_before", spec["renew_before"])
        if cred["renew_before"] >= generate["days"] * _UNITS["d"]:
            raise ConfigError(path + ".renew_before", "must be shorter than the certificate's validity (generate.days: %d), "
                                                      "or it would be renewed on every run" % generate["days"])
    cred["not_after"] = _not_after(path, spec, cred["max_age"])
    return cred


def _not_after(path, spec, max_age):
    # The host refuses the credential NOT_AFTER after the value was made; a run after
    # max_age and before then makes a new value with a new end, so the end is never
    # in the past when the host encrypts (systemd-creds refuses that).
    if "not_after" not in spec:
        return None
    not_after = duration(path + ".not_after", spec["not_after"])
    if max_age is None or not_after <= max_age:
        raise ConfigError(path + ".not_after", "needs a shorter max_age: a run between the two makes the value anew "
                                               "before the host refuses it")
    return not_after


def definition_hash(spec):
    """A hash of the normalised generator SPEC: what decides the value's form, never the value.

    A prompt's text is left out: rewording the question asks nothing new.
    """
    definition = dict((k, v) for k, v in spec.items() if not (spec["type"] == "prompt" and k == "prompt"))
    return "sha256:" + hashlib.sha256(json.dumps(definition, sort_keys=True).encode("utf-8")).hexdigest()


def check_shared(path, creds, inputs_of):
    """A shared credential is made from shared credentials only (else each instance would make
    another value), and a shared name is used once per instance.

    CREDS maps ids to normalised credentials; PATH is the credentials mapping's path;
    INPUTS_OF(cred) lists the ids a credential is made from.
    """
    names = {}
    for cred_id, cred in sorted(creds.items()):
        if cred.get("scope") != "shared":
            continue
        if cred["shared_name"] in names:
            raise ConfigError("%s.%s.shared_name" % (path, cred_id), "%s is also the shared name of credential %s"
                              % (cred["shared_name"], names[cred["shared_name"]]))
        names[cred["shared_name"]] = cred_id
        for dep in inputs_of(cred):
            if creds[dep].get("scope") != "shared":
                raise ConfigError("%s.%s.scope" % (path, cred_id), "a shared credential is made from shared credentials only; "
                                                                   "its input %s has scope instance" % dep)


def shared_definition(cred, creds):
    """What must be the same wherever the shared CRED is declared: its generator, with its
    inputs named by their shared names (ids may differ between instances), and its policy."""
    spec = dict(cred["generate"])
    for key in ("password_of", "ca", "stdin"):
        if spec.get(key) is not None:
            spec[key] = creds[spec[key]]["shared_name"]
    if "inputs" in spec:
        spec["inputs"] = [creds[dep]["shared_name"] for dep in spec["inputs"]]
    return spec, cred["max_age"], cred["renew_before"], cred["regenerate_on_change"], cred["not_after"]


def check_shared_across(var_name, instances):
    """Each shared name has one definition among the normalised INSTANCES of a host."""
    seen = {}
    for instance in instances:
        creds = dict((c["id"], c) for c in instance["credentials"])
        for cred in instance["credentials"]:
            if cred.get("scope") != "shared":
                continue
            definition = shared_definition(cred, creds)
            here = "%s.%s.credentials.%s" % (var_name, instance["name"], cred["id"])
            first = seen.setdefault(cred["shared_name"], (definition, here))
            if first[0] != definition:
                raise ConfigError(here, "defines shared secret %s differently from %s; a shared secret has one definition"
                                  % (cred["shared_name"], first[1]))
