from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii

import pytest

from ansible_collections.microvm.credentials.plugins.plugin_utils._generators import random as _secrets
from ansible_collections.microvm.credentials.plugins.plugin_utils._generators.random import SecretError, generate, passlib_hash, passlib_matches


def test_base64_decodes_to_requested_bytes():
    assert len(base64.b64decode(generate({"type": "base64", "bytes": 48}), validate=True)) == 48


def test_hex_length():
    value = generate({"type": "hex", "bytes": 16})
    assert len(value) == 32 and len(binascii.unhexlify(value)) == 16


def test_bytes():
    assert len(generate({"type": "bytes", "bytes": 7})) == 7


def test_password_uses_only_chars_and_differs():
    spec = {"type": "password", "length": 40, "chars": "ab"}
    a, b = generate(spec), generate(spec)
    assert len(a) == 40 and set(a.decode()) <= set("ab") and a != b


def test_passlib_hash_verifies_and_is_salted():
    h1 = generate({"type": "passlib", "scheme": "sha512_crypt", "password_of": "p"}, b"hunter2")
    h2 = passlib_hash("sha512_crypt", b"hunter2")
    assert h1.startswith(b"$6$") and h1 != h2
    assert passlib_matches("sha512_crypt", b"hunter2", h1)
    assert not passlib_matches("sha512_crypt", b"other", h1)
    assert not passlib_matches("sha512_crypt", b"hunter2", b"garbage")


@pytest.mark.parametrize("scheme", ["no_such_scheme", "plaintext", "md5_crypt", "ldap_plaintext"])
def test_passlib_only_crypt_schemes(scheme):
    with pytest.raises(SecretError) as err:
        passlib_hash(scheme, b"x")
    assert err.value.field == "scheme"


def test_sha256_crypt():
    assert passlib_hash("sha256_crypt", b"pw").startswith(b"$5$")


def test_bcrypt_password_limit_is_72_bytes():
    with pytest.raises(SecretError, match="73 bytes long, bcrypt uses at most 72") as err:
        passlib_hash("bcrypt", b"x" * 73)
    assert err.value.field == "password_of"
    with pytest.raises(SecretError) as err:
        passlib_matches("bcrypt", b"x" * 73, b"$2b$12$" + b"a" * 53)
    assert err.value.field == "password_of"


def test_passlib_errors_become_secret_errors(monkeypatch):
    from passlib.exc import MissingBackendError

    class NoBackend(object):
        @staticmethod
        def hash(*args):
            raise MissingBackendError("bcrypt: no backends available")

        @staticmethod
        def identify(hashed):
            return True

        verify = hash

    monkeypatch.setattr(_secrets, "get_crypt_handler", lambda scheme: NoBackend)
    for call in (lambda: passlib_hash("bcrypt", b"pw"), lambda: passlib_matches("bcrypt", b"pw", b"$2b$x")):
        with pytest.raises(SecretError, match="no backends available") as err:
            call()
        assert err.value.field == "scheme"


def test_bcrypt_round_trip_when_a_backend_is_installed():
    from passlib.hash import bcrypt
    if not bcrypt.has_backend():
        pytest.skip("no bcrypt backend on this controller")
    hashed = passlib_hash("bcrypt", b"x" * 72)
    assert hashed.startswith(b"$2") and passlib_matches("bcrypt", b"x" * 72, hashed)


def test_passlib_needs_password():
    with pytest.raises(SecretError) as err:
        passlib_hash("sha512_crypt", None)
    assert err.value.field == "password_of"


def test_passlib_password_must_be_text():
    with pytest.raises(SecretError, match="UTF-8"):
        passlib_hash("sha512_crypt", b"\xff")


def test_unknown_type():
    with pytest.raises(SecretError):
        generate({"type": "nope"})
