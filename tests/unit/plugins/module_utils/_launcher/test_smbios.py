from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64

import pytest

from ansible_collections.microvm.credentials.plugins.module_utils._launcher.smbios import (
    OemStringError,
    check_limits,
    check_unique,
    credential_name_of,
    encode_credential,
    encoded_size,
    validate_credential_name,
    NAME_MAX,
    validate_static_string,
)
from ansible_collections.microvm.credentials.plugins.module_utils._launcher.smbios_limits import LIMITS


def test_name_max_leaves_room_for_the_host_temporary_file():
    # "." + NAME + ".cred." + 8 random characters + ".tmp" must fit one 255-byte file name.
    assert len(".%s.cred.%s.tmp" % ("n" * NAME_MAX, "x" * 8)) == 255


@pytest.mark.parametrize("name", ["a", "db.password", "passwd.hashed-password.root", "x@y", "A_9+z", "n" * 236])
def test_valid_names(name):
    validate_credential_name(name)


CONTROL = ["\n", "\r", "\t", "\x00", "\x01", "\x1b", "\x1f", "\x7f", "\x85"]


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "a:b", "a=b", "a b", "-x", ".hidden", "a%i", "é", "n" * 237, None, 3]
                         + ["a" + c for c in CONTROL] + [c + "a" for c in CONTROL] + ["a" + c + "b" for c in CONTROL])
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


@pytest.mark.parametrize("bad", ["", "a\x00b", 5, None, "io.systemd.credential:bad\n=x", "io.systemd.credential.binary:a/b=AA=="])
def test_static_strings_rejected(bad):
    with pytest.raises(OemStringError):
        validate_static_string(bad)


@pytest.mark.parametrize("good", ["line one\nline two\n", "tab\there", "io.systemd.credential:pem=-----BEGIN X-----\nAA==\n"])
def test_static_strings_keep_other_control_characters(good):
    # SMBIOS strings end only at NUL and systemd takes a credential's value verbatim.
    validate_static_string(good)


def test_errors_point_at_the_string_at_fault():
    with pytest.raises(OemStringError) as err:
        check_unique(["io.systemd.credential:a=1", "other", "io.systemd.credential:a=2"])
    assert err.value.index == 2
    big = "x" * LIMITS["qemu"]["max_string_bytes"]
    with pytest.raises(OemStringError) as err:
        check_limits(["ok", big], "qemu")
    assert err.value.index == 1
    with pytest.raises(OemStringError) as err:
        check_limits(["o"] * 256, "qemu")
    assert err.value.index is None


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
