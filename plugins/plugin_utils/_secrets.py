# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Secret generators. Controller side only; values are bytes."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import secrets

try:
    from passlib.registry import get_crypt_handler
    HAS_PASSLIB = True
except ImportError:  # pragma: no cover - depends on the controller's environment
    HAS_PASSLIB = False


class SecretError(ValueError):
    """A secret cannot be generated."""


def generate(spec, password=None):
    """Return new secret bytes for the normalised generator SPEC.

    PASSWORD is the value of the credential named by ``password_of`` for passlib hashes.
    """
    kind = spec["type"]
    if kind == "bytes":
        return secrets.token_bytes(spec["bytes"])
    if kind == "base64":
        return base64.b64encode(secrets.token_bytes(spec["bytes"]))
    if kind == "hex":
        return binascii.hexlify(secrets.token_bytes(spec["bytes"]))
    if kind == "password":
        return "".join(secrets.choice(spec["chars"]) for dummy in range(spec["length"])).encode("ascii")
    if kind == "passlib":
        return passlib_hash(spec["scheme"], password)
    raise SecretError("unknown generator type %r" % (kind,))


def _handler(scheme):
    if not HAS_PASSLIB:
        raise SecretError("passlib hashes need the Python package passlib (or libpass) on the controller")
    try:
        return get_crypt_handler(scheme)
    except KeyError:
        raise SecretError("passlib does not know the scheme %r" % (scheme,))


def _text(password):
    if password is None:
        raise SecretError("no password to hash")
    try:
        return password.decode("utf-8")
    except UnicodeDecodeError:
        raise SecretError("the password to hash is not UTF-8 text")


def passlib_matches(scheme, password, hashed):
    """True if the stored HASHED (bytes) is a SCHEME hash of PASSWORD (bytes)."""
    handler = _handler(scheme)
    try:
        return handler.identify(hashed) and handler.verify(_text(password), hashed)
    except ValueError:
        return False


def passlib_hash(scheme, password):
    """Hash PASSWORD (bytes) with the passlib SCHEME, e.g. for passwd.hashed-password.root."""
    return _handler(scheme).hash(_text(password)).encode("ascii")
