from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii

import pytest

from ansible_collections.microvm.credentials.plugins.plugin_utils._secrets import SecretError, generate, passlib_hash, passlib_matches


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


def test_passlib_unknown_scheme():
    with pytest.raises(SecretError, match="scheme"):
        passlib_hash("no_such_scheme", b"x")


def test_passlib_needs_password():
    with pytest.raises(SecretError):
        passlib_hash("sha512_crypt", None)


def test_unknown_type():
    with pytest.raises(SecretError):
        generate({"type": "nope"})
