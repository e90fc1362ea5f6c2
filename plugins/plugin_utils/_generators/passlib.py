# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""``generate.type: passlib``: a crypt(3) hash of another credential (``password_of``).

The hash follows its password: it is made anew when the password changes, and a
stored hash of another password is replaced.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.microvm.credentials.plugins.plugin_utils._generators import registry
from ansible_collections.microvm.credentials.plugins.plugin_utils._generators.kind import Kind, SecretError
from ansible_collections.microvm.credentials.plugins.plugin_utils._schema.checks import ConfigError, _choice

try:
    from passlib.registry import get_crypt_handler
    HAS_PASSLIB = True
except ImportError:  # pragma: no cover - depends on the controller's environment
    HAS_PASSLIB = False


# The crypt(3) hashes that guest shadow files and passwd.hashed-password.* take; libpass
# has no yescrypt.
PASSLIB_SCHEMES = ("sha512_crypt", "sha256_crypt", "bcrypt")
# bcrypt hashes only the first 72 bytes of a password and ignores the rest.
BCRYPT_MAX_BYTES = 72


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


class Passlib(Kind):
    NAME = "passlib"
    KEYS = frozenset(("type", "scheme", "password_of", "length"))

    def normalize(self, path, spec, cred_id):
        out = {"scheme": _choice(path + ".scheme", spec.get("scheme", "sha512_crypt"), PASSLIB_SCHEMES)}
        if spec.get("password_of") is None:
            raise ConfigError(path + ".password_of", "is required: the id of the credential holding the password to hash")
        out["password_of"] = spec["password_of"]
        return out

    def make(self, spec, deps, path):
        return passlib_hash(spec["scheme"], deps[spec["password_of"]][0]), None

    def current(self, spec, secret, public, deps, path):
        if not passlib_matches(spec["scheme"], deps[spec["password_of"]][0], secret):
            return None  # a hash follows its password
        return secret, None

    def inputs(self, spec):
        return [spec["password_of"]]

    def check_references(self, path, cred_id, spec, creds):
        ppath = "%s.%s.generate.password_of" % (path, cred_id)
        password_of = spec["password_of"]
        if password_of not in creds or password_of == cred_id:
            raise ConfigError(ppath, "must name another credential of this instance, got %r" % (password_of,))
        password = creds[password_of].get("generate")
        if password is not None and password["type"] == self.NAME:
            raise ConfigError(ppath, "cannot hash another hash (%s)" % password_of)
        # bcrypt ignores everything after the 72nd byte; src passwords are checked once read.
        known = registry.generated_length(password) if password is not None else None
        if spec["scheme"] == "bcrypt" and known is not None and known[1] > BCRYPT_MAX_BYTES:
            raise ConfigError("%s.%s.generate.%s" % (path, password_of, known[0]),
                              "makes a password of %d bytes, but bcrypt (%s.%s.generate.scheme) uses at most %d"
                              % (known[1], path, cred_id, BCRYPT_MAX_BYTES))

    def named(self, spec, shared_name_of):
        return dict(spec, password_of=shared_name_of(spec["password_of"]))


KINDS = (Passlib(),)
