# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Every generator kind behind one interface, found by looking, not by a list.

Each module of this package that defines KINDS (a tuple of kind.Kind) contributes its
kinds: a new ``generate.type`` is one new module here, plus its documentation.

DEPS maps the id of each input (see Kind.inputs) to its (secret, public) pair; PATH
is the credential's variable path, for errors. Public halves are bytes or None.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import importlib
import json
import pkgutil

from ansible_collections.microvm.credentials.plugins.plugin_utils import _generators as _package
from ansible_collections.microvm.credentials.plugins.plugin_utils._generators.kind import GenerateError, SecretError, StoredValueError

__all__ = ("GenerateError", "kinds", "kind", "selectable", "normalize", "make", "current", "has_public",
           "public_fingerprint", "inputs", "generated_length", "definition_hash")

_KINDS = {}


def kinds():
    """{name: Kind} of every module of this package that defines KINDS, by module name, then KINDS order."""
    if not _KINDS:
        found = {}
        for info in sorted(pkgutil.iter_modules(_package.__path__), key=lambda m: m[1]):
            module = importlib.import_module("%s.%s" % (_package.__name__, info[1]))
            for one in getattr(module, "KINDS", ()):
                if one.NAME in found:
                    raise RuntimeError("generator kind %s is defined twice" % one.NAME)
                found[one.NAME] = one
        _KINDS.update(found)
    return _KINDS


def kind(name):
    return kinds()[name]


def selectable():
    """The names a user may write as generate.type."""
    return tuple(name for name, one in kinds().items() if one.SELECTABLE)


def normalize(path, kind_name, spec, cred_id):
    """The normalised generator SPEC of KIND_NAME (its keys already checked against Kind.KEYS)."""
    out = {"type": kind_name}
    out.update(kind(kind_name).normalize(path, spec, cred_id))
    return out


def _text_public(pair):
    # One form everywhere (variables, lookups, guests): no final newline; the .pub file adds one.
    secret, public = pair
    return secret, None if public is None else public.rstrip(b"\n")


def _error(path, exc):
    field = getattr(exc, "field", None)
    return GenerateError("%s.generate%s: %s" % (path, "." + field if field else "", exc))


def make(spec, deps, path):
    """Return a new (secret, public) for the normalised generator SPEC."""
    try:
        return _text_public(kind(spec["type"]).make(spec, deps, path))
    except SecretError as exc:
        raise _error(path, exc)


def current(spec, secret, public, deps, path):
    """Return (secret, public) for the stored SECRET and stored PUBLIC half, or None to make a new pair.

    Public halves that follow from the secret are derived anew; a certificate is
    issued anew for the stored key when it no longer fits its definition.
    """
    try:
        pair = kind(spec["type"]).current(spec, secret, public, deps, path)
        return None if pair is None else _text_public(pair)
    except StoredValueError as exc:
        raise GenerateError("%s.generate: the stored value does not fit generator %s (%s); rotate it with microvm_rotate"
                            % (path, spec["type"], exc))
    except SecretError as exc:
        raise _error(path, exc)


def has_public(spec):
    """True if the normalised generator SPEC makes a public half."""
    return kind(spec["type"]).has_public(spec)


def public_fingerprint(kind_name, public):
    """The fingerprint of the public half PUBLIC (bytes) of a KIND_NAME generator."""
    return kind(kind_name).public_fingerprint(public)


def inputs(spec):
    """The ids of the credentials the normalised generator SPEC is made from."""
    return kind(spec["type"]).inputs(spec)


def generated_length(spec):
    """(option, bytes) of the value SPEC makes, or None when unknown in advance."""
    return kind(spec["type"]).generated_length(spec)


def definition_hash(spec):
    """A hash of the normalised generator SPEC: what decides the value's form, never the value."""
    definition = kind(spec["type"]).definition(spec)
    return "sha256:" + hashlib.sha256(json.dumps(definition, sort_keys=True).encode("utf-8")).hexdigest()
