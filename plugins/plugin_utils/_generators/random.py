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


# The crypt(3) hashes that guest shadow files and passwd.hashed-password.* take.
PASSLIB_SCHEMES = ("sha512_crypt", "sha256_crypt", "bcrypt")
# bcrypt hashes only the first 72 bytes of a password and ignores the rest.
BCRYPT_MAX_BYTES = 72


class SecretError(ValueError):
    """A secret cannot be generated.

    FIELD is the generator option at fault (e.g. ``scheme``), if one is.
    """

    def __init__(self, message, field=None):
        super(SecretError, self).__init__(message)
        self.field = field


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
    if scheme not in PASSLIB_SCHEMES:
        raise SecretError("must be one of %s, got %r" % (", ".join(PASSLIB_SCHEMES), scheme), "scheme")
    if not HAS_PASSLIB:
        raise SecretError("passlib hashes need the Python package libpass on the controller", "scheme")
    try:
        return get_crypt_handler(scheme)
    except KeyError:
        raise SecretError("passlib does not know the scheme %r" % (scheme,), "scheme")


def _passlib_error(scheme, exc):
    # MissingBackendError (no bcrypt backend installed) is a RuntimeError.
    return SecretError("passlib cannot hash with %s on this controller: %s" % (scheme, exc), "scheme")


def _text(scheme, password):
    if password is None:
        raise SecretError("no password to hash", "password_of")
    if scheme == "bcrypt" and len(password) > BCRYPT_MAX_BYTES:
        raise SecretError("the password to hash is %d bytes long, bcrypt uses at most %d" % (len(password), BCRYPT_MAX_BYTES),
                          "password_of")
    try:
        return password.decode("utf-8")
    except UnicodeDecodeError:
        raise SecretError("the password to hash is not UTF-8 text", "password_of")


def passlib_matches(scheme, password, hashed):
    """True if the stored HASHED (bytes) is a SCHEME hash of PASSWORD (bytes)."""
    handler = _handler(scheme)
    text = _text(scheme, password)
    try:
        return handler.identify(hashed) and handler.verify(text, hashed)
    except ValueError:
        return False  # a malformed stored hash: replaced like a wrong one
    except RuntimeError as exc:
        raise _passlib_error(scheme, exc)


def passlib_hash(scheme, password):
    """Hash PASSWORD (bytes) with the passlib SCHEME, e.g. for passwd.hashed-password.root."""
    handler = _handler(scheme)
    text = _text(scheme, password)
    try:
        return handler.hash(text).encode("ascii")
    except (RuntimeError, ValueError) as exc:
        raise _passlib_error(scheme, exc)
