from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64

import pytest

from ansible_collections.microvm.credentials.plugins.module_utils._launcher.smbios import (
    OemStringError,
    build_oem_strings,
    check_limits,
    credential_name_of,
    encode_credential,
    encoded_size,
)
from ansible_collections.microvm.credentials.plugins.module_utils._launcher.hypervisors import HYPERVISORS

LIMITS = dict((name, module.OEM_LIMITS) for name, module in HYPERVISORS.items())


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


def test_credential_name_of():
    assert credential_name_of("io.systemd.credential:a.b=c=d") == "a.b"
    assert credential_name_of("io.systemd.credential.binary:k=AA==") == "k"
    assert credential_name_of("io.systemd.stub.foo=bar") is None


def test_errors_point_at_the_string_at_fault():
    big = "x" * LIMITS["qemu"]["max_string_bytes"]
    with pytest.raises(OemStringError) as err:
        check_limits(["ok", big], "qemu")
    assert err.value.index == 1
    with pytest.raises(OemStringError) as err:
        check_limits(["o"] * 256, "qemu")
    assert err.value.index is None


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


def test_build_credentials_then_static_strings():
    strings = build_oem_strings([("db.password", b"s3cret", None), ("key", b"\x00", None)], ["banner"], "qemu")
    assert strings == ["io.systemd.credential:db.password=s3cret", "io.systemd.credential.binary:key=AA==", "banner"]


def test_build_with_nothing():
    assert build_oem_strings([], [], "cloud-hypervisor") == []


def test_build_names_the_credential_that_cannot_be_text():
    with pytest.raises(OemStringError, match="credential b: .*binary: true") as err:
        build_oem_strings([("a", b"ok", False), ("b", b"\xff", False)], [], "qemu")
    assert err.value.index == 1


@pytest.mark.parametrize("hypervisor", sorted(LIMITS))
def test_build_indexes_run_over_credentials_then_static_strings(hypervisor):
    big = "x" * LIMITS[hypervisor]["max_string_bytes"]
    with pytest.raises(OemStringError, match="a static OEM string") as err:
        build_oem_strings([("a", b"1", None), ("b", b"2", None)], ["ok", big], hypervisor)
    assert err.value.index == 3
    with pytest.raises(OemStringError, match="credential b takes") as err:
        build_oem_strings([("a", b"1", None), ("b", big.encode("ascii"), None)], [], hypervisor)
    assert err.value.index == 1


def test_build_too_many_or_too_much_in_all_has_no_index():
    with pytest.raises(OemStringError, match="256 OEM strings") as err:
        build_oem_strings([("c%d" % i, b"v", None) for i in range(200)], ["s"] * 56, "qemu")
    assert err.value.index is None
    half = "x" * (LIMITS["qemu"]["max_total_bytes"] // 2)
    with pytest.raises(OemStringError, match="in all") as err:
        build_oem_strings([("a", half.encode("ascii"), None)], [half], "qemu")
    assert err.value.index is None
