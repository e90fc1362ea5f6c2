# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A credential's policy: what it is made by (scope, shared names), and when it is made
anew (max_age, renew_before, regenerate_on_change, not_after).

Each generator kind's own options live in its module (see registry.py). Pure code;
errors name the variable path, e.g. ``microvm_instances.web.credentials.db.max_age``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.microvm.credentials.plugins.plugin_utils._generators import registry
from ansible_collections.microvm.credentials.plugins.plugin_utils._generators.kind import text as _text
from ansible_collections.microvm.credentials.plugins.plugin_utils._generators.x509 import CERTIFICATE_KINDS
from ansible_collections.microvm.credentials.plugins.plugin_utils._schema.checks import ConfigError, _bool, _choice

# _resolve imports it from here.
definition_hash = registry.definition_hash


def has_public(spec):
    """True if the normalised generator SPEC makes a public half."""
    return registry.has_public(spec)


def check_references(path, creds):
    """Check that generators name credentials that exist and fit (a tls ca must be a ca).

    CREDS maps ids to normalised credentials; PATH is the credentials mapping's path.
    """
    for cred_id, cred in sorted(creds.items()):
        if "generate" in cred:
            registry.kind(cred["generate"]["type"]).check_references(path, cred_id, cred["generate"], creds)


# -- what a credential is made by, where it lives, and when it is made anew ---------

SCOPES = ("instance", "shared")
POLICY_KEYS = ("scope", "shared_name", "prompt", "max_age", "renew_before", "regenerate_on_change", "not_after")
_SHARED_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
_DURATION_RE = re.compile(r"([1-9][0-9]{0,8})([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# Ends are computed as datetimes and passed to systemd-creds --not-after: far beyond any
# real policy, and far below what datetime arithmetic overflows at (year 9999).
MAX_DURATION = 36525 * _UNITS["d"]  # 100 years


def duration(path, value):
    """Seconds of a duration NUMBER+UNIT (s, m, h, d or w), e.g. 90d."""
    match = _DURATION_RE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ConfigError(path, "must be a duration: a whole number and a unit s, m, h, d or w (e.g. 90d or 12h), got %r" % (value,))
    seconds = int(match.group(1)) * _UNITS[match.group(2)]
    if seconds > MAX_DURATION:
        raise ConfigError(path, "must be at most 100 years (36525d), got %r" % (value,))
    return seconds


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
    spec = registry.kind(cred["generate"]["type"]).named(cred["generate"], lambda dep: creds[dep]["shared_name"])
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
