# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Random secrets: ``generate.type`` bytes, base64, hex and password. Values are bytes."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import secrets

from ansible_collections.microvm.credentials.plugins.plugin_utils._generators.kind import Kind, SecretError
from ansible_collections.microvm.credentials.plugins.plugin_utils._schema.checks import ConfigError, _int

DEFAULT_BYTES = 32
DEFAULT_PASSWORD_LENGTH = 24
PASSWORD_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def generate(spec):
    """Return new secret bytes for the normalised random generator SPEC."""
    kind = spec["type"]
    if kind == "bytes":
        return secrets.token_bytes(spec["bytes"])
    if kind == "base64":
        return base64.b64encode(secrets.token_bytes(spec["bytes"]))
    if kind == "hex":
        return binascii.hexlify(secrets.token_bytes(spec["bytes"]))
    if kind == "password":
        return "".join(secrets.choice(spec["chars"]) for dummy in range(spec["length"])).encode("ascii")
    raise SecretError("unknown generator type %r" % (kind,))


class _Bytes(Kind):
    """BYTES random bytes, as they are or encoded."""

    KEYS = frozenset(("type", "bytes"))

    def __init__(self, name, length, binary_only=None):
        self.NAME, self._length, self.BINARY_ONLY = name, length, binary_only

    def normalize(self, path, spec, cred_id):
        return {"bytes": _int(path + ".bytes", spec.get("bytes", DEFAULT_BYTES), 1, 65536)}

    def make(self, spec, deps, path):
        return generate(spec), None

    def generated_length(self, spec):
        return "bytes", self._length(spec["bytes"])


class Password(Kind):
    """LENGTH characters drawn from CHARS."""

    NAME = "password"
    KEYS = frozenset(("type", "length", "chars"))

    def normalize(self, path, spec, cred_id):
        chars = spec.get("chars", PASSWORD_CHARS)
        out = {"length": _int(path + ".length", spec.get("length", DEFAULT_PASSWORD_LENGTH), 8, 4096)}
        if not isinstance(chars, str) or len(set(chars)) < 2 or not all(" " < c < "\x7f" for c in chars):
            raise ConfigError(path + ".chars", "must be a string of at least 2 distinct printable ASCII characters")
        out["chars"] = chars
        return out

    def make(self, spec, deps, path):
        return generate(spec), None

    def generated_length(self, spec):
        return "length", spec["length"]


KINDS = (
    _Bytes("base64", lambda n: 4 * ((n + 2) // 3)),
    _Bytes("hex", lambda n: 2 * n),
    _Bytes("bytes", lambda n: n, "random bytes cannot be passed as text"),
    Password(),
)
