# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What a generator kind is: the interface each module of this package implements.

A module of _generators/ that defines ``KINDS`` (a tuple of Kind instances) is a
generator module; the registry finds it by that name. A Kind answers every question
the rest of the collection asks about ``generate.type: NAME``: its options, how to
make a value and check a stored one, whether it has a public half and how that is
fingerprinted, which credentials it is made from, and how long its value is.

Specs are normalised generator options (a dict with ``type``); PATH is the
credential's variable path; DEPS maps input ids to their (secret, public) pairs.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib

from ansible_collections.microvm.credentials.plugins.plugin_utils._schema.checks import ConfigError

FINGERPRINT_BYTES = 8


class GenerateError(ValueError):
    """A secret cannot be made or used; the message starts with the variable path."""


class SecretError(ValueError):
    """A secret cannot be made as asked; the registry prefixes the variable path.

    FIELD is the generator option at fault (e.g. ``scheme``), if one is.
    """

    def __init__(self, message, field=None):
        super(SecretError, self).__init__(message)
        self.field = field


class StoredValueError(ValueError):
    """The stored value does not fit its generator (e.g. not a key); rotating it helps."""


def text(path, value, regex, what):
    """VALUE if it is a string REGEX matches whole, else a ConfigError saying it must be WHAT."""
    if not isinstance(value, str) or not regex.fullmatch(value):
        raise ConfigError(path, "must be %s, got %r" % (what, value))
    return value


class Kind:
    """One ``generate.type``. Subclasses set NAME and KEYS and implement normalize and make."""

    NAME = None
    # The option keys a user may write under generate, "type" included.
    KEYS = frozenset(("type",))
    # False for kinds that are not written as generate.type (prompt: its own key).
    SELECTABLE = True
    # How the error for inject_public names this kind, when it has a public half.
    PUBLIC_HALF = None
    # Why binary: false is refused, for kinds whose values are never text.
    BINARY_ONLY = None

    def normalize(self, path, spec, cred_id):
        """The normalised options of the user's SPEC (its keys already checked), without type."""
        return {}

    def make(self, spec, deps, path):
        """A new (secret, public) pair; public is None for kinds without one."""
        raise NotImplementedError

    def current(self, spec, secret, public, deps, path):
        """(secret, public) for the stored values, or None to make a new pair."""
        return secret, None

    def has_public(self, spec):
        """True if SPEC makes a public half, stored beside the vault file."""
        return False

    def public_fingerprint(self, public):
        """How the audit names the public half PUBLIC (bytes)."""
        return "sha256:" + hashlib.sha256(public).hexdigest()[:2 * FINGERPRINT_BYTES]

    def inputs(self, spec):
        """The ids of the credentials SPEC is made from (it is made after them, and anew with them)."""
        return []

    def check_references(self, path, cred_id, spec, creds):
        """Raise ConfigError unless the ids SPEC names fit CREDS (normalised credentials by id).

        PATH is the credentials mapping's path; CRED_ID the credential SPEC generates.
        """

    def named(self, spec, shared_name_of):
        """SPEC with the credential ids it names replaced by SHARED_NAME_OF(id): what must be
        the same wherever a shared secret is declared."""
        return dict(spec)

    def definition(self, spec):
        """What decides the value's form, for definition_hash (never the value)."""
        return spec

    def generated_length(self, spec):
        """(option, bytes) of the value SPEC makes, or None when unknown in advance."""
        return None
