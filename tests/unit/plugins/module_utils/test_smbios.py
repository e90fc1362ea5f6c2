from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64

import pytest

from ansible_collections.microvm.credentials.plugins.module_utils._smbios import (
    OemStringError,
    check_limits,
    check_unique,
    credential_name_of,
    encode_credential,
    encoded_size,
    validate_credential_name,
    validate_static_string,
)
from ansible_collections.microvm.credentials.plugins.module_utils._smbios_limits import LIMITS


@pytest.mark.parametrize("name", ["a", "db.password", "passwd.hashed-password.root", "x@y", "A_9+z", "n" * 255])
def test_valid_names(name):
    validate_credential_name(name)


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "a:b", "a=b", "a b", "-x", ".hidden", "a%i", "é", "n" * 256, None, 3])
def test_invalid_names(name):
    with pytest.raises(OemStringError):
        validate_credential_name(name)


def test_text_encoding():
    assert encode_credential("db.password", b"s3cret") == "io.systemd.credential:db.password=s3cret"


def test_text_keeps_equals_and_utf8():
    assert encode_credential("k", u"a=b ü".encode("utf-8")) == u"io.systemd.credential:k=a=b ü"


def test_binary_encoding_forced():
    s = encode_credential("key", b"\x00\x01\xff", binary=True)
    assert s.startswith("io.systemd.credential.binary:key=")
    assert base64.b64decode(s.split("=", 1)[1]) == b"\x00\x01\xff"


@pytest.mark.parametrize("value", [b"a\x00b", b"\xff\xfe"])
def test_auto_binary_for_non_text(value):
    s = encode_credential("k", value)
    assert s.startswith("io.systemd.credential.binary:k=")
    assert base64.b64decode(s.split("=", 1)[1]) == value


@pytest.mark.parametrize("value", [b"a\x00b", b"\xff\xfe"])
def test_text_forced_rejects_non_text(value):
    with pytest.raises(OemStringError, match="binary: true"):
        encode_credential("k", value, binary=False)


def test_value_must_be_bytes():
    with pytest.raises(OemStringError):
        encode_credential("k", u"text")


def test_credential_name_of():
    assert credential_name_of("io.systemd.credential:a.b=c=d") == "a.b"
    assert credential_name_of("io.systemd.credential.binary:k=AA==") == "k"
    assert credential_name_of("io.systemd.stub.foo=bar") is None


@pytest.mark.parametrize("bad", ["", "a\x00b", 5, None])
def test_static_strings_rejected(bad):
    with pytest.raises(OemStringError):
        validate_static_string(bad)


def test_unique():
    check_unique(["io.systemd.credential:a=1", "io.systemd.credential:b=1", "other"])
    with pytest.raises(OemStringError, match="set twice"):
        check_unique(["io.systemd.credential:a=1", "io.systemd.credential.binary:a=AA=="])


def test_encoded_size_counts_utf8_and_nul():
    assert encoded_size(u"ü") == 3


@pytest.mark.parametrize("hypervisor", sorted(LIMITS))
def test_limits_accept_small_and_reject_too_many_or_too_large(hypervisor):
    limits = LIMITS[hypervisor]
    check_limits(["io.systemd.credential:a=b"], hypervisor)
    if limits.get("max_strings"):
        with pytest.raises(OemStringError, match="at most"):
            check_limits(["x%d" % i for i in range(limits["max_strings"] + 1)], hypervisor)
    if limits.get("max_total_bytes"):
        with pytest.raises(OemStringError, match="at most"):
            check_limits(["io.systemd.credential:big=" + "x" * limits["max_total_bytes"]], hypervisor)


def test_unknown_hypervisor():
    with pytest.raises(OemStringError, match="unknown hypervisor"):
        check_limits([], "firecracker")
