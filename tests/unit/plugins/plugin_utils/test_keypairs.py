from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import datetime
import ipaddress
import os
import shutil
import subprocess

import pytest

from cryptography import x509

from ansible_collections.microvm.credentials.plugins.plugin_utils._generators import keypairs as _keypairs
from ansible_collections.microvm.credentials.plugins.plugin_utils._generators.keypairs import KeyPairError

needs_ssh_keygen = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen (openssh-client) is not installed")
needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")


def x25519_base(scalar):
    """X25519(k, 9) of RFC 7748 section 5, written out: independent of the code under test."""
    p, a24 = 2 ** 255 - 19, 121665
    k = int.from_bytes(scalar, "little")
    k = (k & ~7 & ~(128 << 8 * 31)) | (64 << 8 * 31)
    x1, x2, z2, x3, z3, swap = 9, 1, 0, 9, 1, 0
    for t in reversed(range(255)):
        bit = (k >> t) & 1
        if swap ^ bit:
            x2, x3, z2, z3 = x3, x2, z3, z2
        swap = bit
        a, b, c, d = x2 + z2, x2 - z2, x3 + z3, x3 - z3
        aa, bb, da, cb = a * a, b * b, d * a, c * b
        e = aa - bb
        x3, z3 = (da + cb) ** 2 % p, x1 * (da - cb) ** 2 % p
        x2, z2 = aa * bb % p, e * (aa + a24 * e) % p
    if swap:
        x2, z2 = x3, z3
    return (x2 * pow(z2, p - 2, p) % p).to_bytes(32, "little")


def test_x25519_reference_matches_rfc7748_vector():
    alice = bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
    assert x25519_base(alice).hex() == "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"


def test_wireguard_public_is_x25519_of_private():
    private, public = _keypairs.wireguard()
    raw = base64.b64decode(private, validate=True)
    assert len(raw) == 32 and raw[0] & 7 == 0 and raw[31] & 0xC0 == 0x40  # clamped like `wg genkey`
    assert base64.b64decode(public, validate=True) == x25519_base(raw)
    assert _keypairs.wireguard_public(private + b"\n") == public


def test_wireguard_keys_differ():
    assert _keypairs.wireguard()[0] != _keypairs.wireguard()[0]


def test_wireguard_public_rejects_garbage():
    with pytest.raises(KeyPairError, match="WireGuard"):
        _keypairs.wireguard_public(b"not base64!")


def ssh_keygen_public(tmp_path, private):
    path = tmp_path / "id"
    path.write_bytes(private)
    os.chmod(str(path), 0o600)  # ssh-keygen refuses keys others can read
    return subprocess.run(["ssh-keygen", "-y", "-f", str(path)], check=True, capture_output=True).stdout.strip()


@needs_ssh_keygen
@pytest.mark.parametrize("key_type,bits,curve,prefix", [
    ("ed25519", None, None, b"ssh-ed25519 "),
    ("rsa", 3072, None, b"ssh-rsa "),
    ("ecdsa", None, "p256", b"ecdsa-sha2-nistp256 "),
    ("ecdsa", None, "p384", b"ecdsa-sha2-nistp384 "),
    ("ecdsa", None, "p521", b"ecdsa-sha2-nistp521 "),
])
def test_ssh_private_key_loads_with_ssh_keygen(tmp_path, key_type, bits, curve, prefix):
    private, public = _keypairs.ssh(key_type, bits, curve, comment="root@web")
    assert private.startswith(b"-----BEGIN OPENSSH PRIVATE KEY-----")
    assert public.startswith(prefix) and public.endswith(b" root@web")
    assert ssh_keygen_public(tmp_path, private) == public.rsplit(b" ", 1)[0]


def test_ssh_default_is_ed25519_without_comment():
    private, public = _keypairs.ssh()
    assert public.startswith(b"ssh-ed25519 ") and public.count(b" ") == 1
    assert _keypairs.ssh_public(private) == public


@pytest.mark.parametrize("bits", [1024, 2048, 3071])
def test_rsa_below_3072_bits_is_rejected(bits):
    with pytest.raises(KeyPairError, match="3072"):
        _keypairs.ssh("rsa", bits)


@pytest.mark.parametrize("args,match", [(("dsa",), "key type"), (("ecdsa", None, "p192"), "curve")])
def test_unknown_key_type_or_curve_is_rejected(args, match):
    with pytest.raises(KeyPairError, match=match):
        _keypairs.private_key(*args)


def test_ssh_public_rejects_garbage():
    with pytest.raises(KeyPairError, match="OpenSSH"):
        _keypairs.ssh_public(b"nope")


def openssl_verify(tmp_path, ca_pem, cert_pem):
    (tmp_path / "ca.pem").write_bytes(ca_pem)
    (tmp_path / "cert.pem").write_bytes(cert_pem)
    return subprocess.run(["openssl", "verify", "-x509_strict", "-CAfile", str(tmp_path / "ca.pem"), str(tmp_path / "cert.pem")],
                          capture_output=True, text=True, check=False)


def sans(cert_pem):
    ext = x509.load_pem_x509_certificate(cert_pem).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return ext.get_values_for_type(x509.DNSName), ext.get_values_for_type(x509.IPAddress)


@needs_openssl
@pytest.mark.parametrize("key_type", ["ecdsa", "rsa", "ed25519"])
def test_certificate_signed_by_ca_verifies_and_carries_sans(tmp_path, key_type):
    ca_pair = _keypairs.ca("Test CA", days=30, key_type=key_type, bits=3072)
    key, cert = _keypairs.tls("web", dns=["web.example", "web"], ips=["192.0.2.7", "2001:db8::7"], days=10,
                              ca_pair=ca_pair, key_type=key_type, bits=3072)
    result = openssl_verify(tmp_path, ca_pair[1], cert)
    assert result.returncode == 0, result.stdout + result.stderr
    assert sans(cert) == (["web.example", "web"], [ipaddress.ip_address("192.0.2.7"), ipaddress.ip_address("2001:db8::7")])
    assert _keypairs.certificate_matches_key(cert, key)
    assert not _keypairs.certificate_matches_key(cert, ca_pair[0])


@needs_openssl
def test_self_signed_certificate_verifies_against_itself_only(tmp_path):
    key, cert = _keypairs.tls("db", dns=["db"])
    parsed = x509.load_pem_x509_certificate(cert)
    assert parsed.issuer == parsed.subject
    parsed.verify_directly_issued_by(parsed)
    assert openssl_verify(tmp_path, _keypairs.ca("Other")[1], cert).returncode != 0


def test_validity_days():
    cert = x509.load_pem_x509_certificate(_keypairs.tls("x", days=3)[1])
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == datetime.timedelta(days=3, minutes=5)


def test_certificate_may_not_outlive_its_ca():
    ca_pair = _keypairs.ca("Short CA", days=5)
    with pytest.raises(KeyPairError, match="outlive its CA"):
        _keypairs.tls("x", days=6, ca_pair=ca_pair)


def test_ca_key_must_match_ca_certificate():
    first, second = _keypairs.ca("A"), _keypairs.ca("B")
    with pytest.raises(KeyPairError, match="does not match"):
        _keypairs.tls("x", ca_pair=(first[0], second[1]))


def test_leaf_certificate_cannot_sign():
    leaf = _keypairs.tls("leaf", days=30)
    with pytest.raises(KeyPairError, match="not a CA"):
        _keypairs.tls("x", days=1, ca_pair=leaf)


@pytest.mark.parametrize("kwargs,match", [({"ips": ["300.1.1.1"]}, "IP address"), ({"days": 0}, "at least 1 day")])
def test_bad_certificate_requests(kwargs, match):
    with pytest.raises(KeyPairError, match=match):
        _keypairs.tls("x", **kwargs)


@needs_openssl
def test_a_reissued_ca_certificate_still_verifies_the_certificates_of_its_key(tmp_path):
    ca_key, ca_cert = _keypairs.ca("Test CA", days=30)
    dummy, cert = _keypairs.tls("web", dns=["web"], days=10, ca_pair=(ca_key, ca_cert))
    reissued = _keypairs.ca_certificate(ca_key, "Test CA", days=30)
    assert reissued != ca_cert and _keypairs.certificate_matches_key(reissued, ca_key)
    result = openssl_verify(tmp_path, reissued, cert)
    assert result.returncode == 0, result.stdout + result.stderr


def test_certificate_names():
    assert _keypairs.certificate_names(_keypairs.tls("web", dns=["a", "b"], ips=["2001:db8::1"])[1]) == ("web", ["a", "b"], ["2001:db8::1"])
    assert _keypairs.certificate_names(_keypairs.ca("CA")[1]) == ("CA", [], [])
