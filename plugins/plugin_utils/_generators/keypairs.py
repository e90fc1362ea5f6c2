# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Key pairs and certificates for the ssh, wireguard and x509 generator kinds.

Pure functions on the controller, built on ``cryptography`` (which ansible-core
requires). Each returns ``(secret, public)`` as bytes: the secret goes to the vault
store, the public half is stored in plain text beside it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import datetime
import ipaddress
import secrets

# cryptography's names, imported by _require() on first use: the registry imports this module
# on every run, and a run that makes or reads no key pair (a no-op converge) skips the import
# of cryptography.x509, half of the credentials action's import time.
x509 = hashes = serialization = ec = ed25519 = rsa = x25519 = ExtendedKeyUsageOID = NameOID = None

from ansible_collections.microvm.credentials.plugins.plugin_utils._generators.kind import SecretError
from ansible_collections.microvm.credentials.plugins.plugin_utils._schema.checks import ConfigError, _choice, _int

KEY_TYPES = ("ed25519", "rsa", "ecdsa")
ECDSA_CURVES = {"p256": "SECP256R1", "p384": "SECP384R1", "p521": "SECP521R1"}
RSA_MIN_BITS = 3072
RSA_MAX_BITS = 16384
DEFAULT_RSA_BITS = 4096
DEFAULT_CURVE = "p256"
# Certificates start a little in the past: a guest whose clock lags must accept them.
_BACKDATE = datetime.timedelta(minutes=5)


class KeyPairError(SecretError):
    """A key pair or certificate cannot be made as requested."""


def key_options(path, spec, default_type):
    """The normalised key_type, bits and curve of the generator SPEC."""
    key_type = _choice(path + ".key_type", spec.get("key_type", default_type), KEY_TYPES)
    out = {"key_type": key_type, "bits": None, "curve": None}
    if "bits" in spec and key_type != "rsa":
        raise ConfigError(path + ".bits", "applies to key_type rsa only")
    if "curve" in spec and key_type != "ecdsa":
        raise ConfigError(path + ".curve", "applies to key_type ecdsa only")
    if key_type == "rsa":
        out["bits"] = _int(path + ".bits", spec.get("bits", DEFAULT_RSA_BITS), RSA_MIN_BITS, RSA_MAX_BITS)
    if key_type == "ecdsa":
        out["curve"] = _choice(path + ".curve", spec.get("curve", DEFAULT_CURVE), tuple(sorted(ECDSA_CURVES)))
    return out


def _require():
    """Import cryptography, once; every function that uses it calls this first."""
    global x509, hashes, serialization, ec, ed25519, rsa, x25519, ExtendedKeyUsageOID, NameOID
    if x509 is not None:
        return
    try:
        from cryptography import x509 as _x509
        from cryptography.hazmat.primitives import hashes as _hashes, serialization as _serialization
        from cryptography.hazmat.primitives.asymmetric import ec as _ec, ed25519 as _ed25519, rsa as _rsa, x25519 as _x25519
        from cryptography.x509.oid import ExtendedKeyUsageOID as _ExtendedKeyUsageOID, NameOID as _NameOID
    except ImportError:  # ansible-core requires it; ansible-test's import test has it not
        raise KeyPairError("key pairs need the Python package cryptography on the controller")
    hashes, serialization, ec, ed25519, rsa, x25519 = _hashes, _serialization, _ec, _ed25519, _rsa, _x25519
    ExtendedKeyUsageOID, NameOID = _ExtendedKeyUsageOID, _NameOID
    x509 = _x509  # last: it marks the import done


def private_key(key_type="ed25519", bits=None, curve=None):
    """Return a new private key object of KEY_TYPE (ed25519, rsa or ecdsa)."""
    _require()
    if key_type == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if key_type == "rsa":
        bits = DEFAULT_RSA_BITS if bits is None else bits
        if bits < RSA_MIN_BITS or bits > RSA_MAX_BITS:
            raise KeyPairError("rsa keys must have %d to %d bits, got %d" % (RSA_MIN_BITS, RSA_MAX_BITS, bits))
        return rsa.generate_private_key(public_exponent=65537, key_size=bits)
    if key_type == "ecdsa":
        curve = DEFAULT_CURVE if curve is None else curve
        if curve not in ECDSA_CURVES:
            raise KeyPairError("ecdsa curve must be one of %s, got %r" % (", ".join(sorted(ECDSA_CURVES)), curve))
        return ec.generate_private_key(getattr(ec, ECDSA_CURVES[curve])())
    raise KeyPairError("key type must be one of %s, got %r" % (", ".join(KEY_TYPES), key_type))


def _load_pem_key(pem):
    _require()
    try:
        return serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyPairError("not an unencrypted PEM private key: %s" % exc)


# --- SSH ---------------------------------------------------------------------

def ssh_public(private_openssh, comment=""):
    """Return the public key line (``TYPE BASE64 COMMENT``) of an OpenSSH private key."""
    _require()
    try:
        key = serialization.load_ssh_private_key(private_openssh, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyPairError("not an unencrypted OpenSSH private key: %s" % exc)
    line = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return line + b" " + comment.encode("utf-8") if comment else line


def ssh(key_type="ed25519", bits=None, curve=None, comment=""):
    """Return (OpenSSH private key, public key line) of a new SSH key."""
    key = private_key(key_type, bits, curve)
    secret = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption())
    return secret, ssh_public(secret, comment)


# --- WireGuard ---------------------------------------------------------------

def wireguard_public(private_b64):
    """Return the base64 public key of the base64 WireGuard (X25519) private key."""
    _require()
    try:
        raw = base64.b64decode(private_b64.strip(), validate=True)
        key = x25519.X25519PrivateKey.from_private_bytes(raw)
    except ValueError as exc:
        raise KeyPairError("not a base64 WireGuard private key: %s" % exc)
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(public)


def wireguard():
    """Return (private key, public key), both base64, as ``wg genkey | wg pubkey`` would."""
    raw = bytearray(secrets.token_bytes(32))
    # The clamping of RFC 7748, which `wg genkey` applies too.
    raw[0] &= 248
    raw[31] = (raw[31] & 127) | 64
    private = base64.b64encode(bytes(raw))
    return private, wireguard_public(private)


# --- X.509 -------------------------------------------------------------------

def _signature_hash(key):
    return None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()


def _alt_names(dns, ips):
    names = [x509.DNSName(name) for name in dns]
    for address in ips:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(address)))
        except ValueError:
            raise KeyPairError("not an IP address: %r" % (address,))
    return names


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _spki(public_key):
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _not_after(cert):
    # not_valid_after_utc is new in cryptography 42; older releases give a naive UTC datetime.
    after = getattr(cert, "not_valid_after_utc", None)
    return after if after is not None else cert.not_valid_after.replace(tzinfo=datetime.timezone.utc)


def _builder(common_name, public_key, days, now):
    if days < 1:
        raise KeyPairError("validity must be at least 1 day, got %d" % days)
    return (x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False))


def _key_usage(cert_sign):
    return x509.KeyUsage(digital_signature=not cert_sign, content_commitment=False, key_encipherment=not cert_sign,
                         data_encipherment=False, key_agreement=False, key_cert_sign=cert_sign, crl_sign=cert_sign,
                         encipher_only=False, decipher_only=False)


def _pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def ca_certificate(key_pem, common_name, days=3650):
    """Return a self-signed CA certificate (PEM) for the private key KEY_PEM."""
    key = _load_pem_key(key_pem)
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (_builder(common_name, key.public_key(), days, now)
            .issuer_name(_name(common_name))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(True), critical=True)
            .sign(key, _signature_hash(key)))
    return cert.public_bytes(serialization.Encoding.PEM)


def ca(common_name, days=3650, key_type="ecdsa", bits=None, curve=None):
    """Return (private key PEM, self-signed CA certificate PEM) of a new CA."""
    key_pem = _pem(private_key(key_type, bits, curve))
    return key_pem, ca_certificate(key_pem, common_name, days)


def _load_ca(ca_key_pem, ca_cert_pem):
    """Return (key, certificate) of a CA, checking that they belong together and may sign."""
    key = _load_pem_key(ca_key_pem)
    try:
        cert = x509.load_pem_x509_certificate(ca_cert_pem)
    except ValueError as exc:
        raise KeyPairError("the CA certificate is not PEM: %s" % exc)
    if _spki(cert.public_key()) != _spki(key.public_key()):
        raise KeyPairError("the CA key does not match the CA certificate")
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        raise KeyPairError("the CA certificate is not a CA (basicConstraints CA:TRUE)")
    return key, cert


def certificate(key_pem, common_name, dns=(), ips=(), days=365, ca_pair=None):
    """Return a PEM certificate for the private key KEY_PEM.

    DNS and IPS are the subject alternative names. CA_PAIR is (CA key PEM, CA
    certificate PEM), or None for a self-signed certificate.
    """
    key = _load_pem_key(key_pem)
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = _builder(common_name, key.public_key(), days, now)
    signer, issuer = key, _name(common_name)
    if ca_pair is not None:
        signer, ca_cert = _load_ca(*ca_pair)
        issuer = ca_cert.subject
        if now + datetime.timedelta(days=days) > _not_after(ca_cert):
            raise KeyPairError("a certificate valid %d days would outlive its CA (valid until %s)" % (days, _not_after(ca_cert).date()))
        builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), critical=False)
    alt_names = _alt_names(dns, ips)
    if alt_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
    cert = (builder.issuer_name(issuer)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(signer, _signature_hash(signer)))
    return cert.public_bytes(serialization.Encoding.PEM)


def tls(common_name, dns=(), ips=(), days=365, ca_pair=None, key_type="ecdsa", bits=None, curve=None):
    """Return (private key PEM, certificate PEM) of a new TLS key; see certificate()."""
    key_pem = _pem(private_key(key_type, bits, curve))
    return key_pem, certificate(key_pem, common_name, dns, ips, days, ca_pair)


def certificate_matches_key(cert_pem, key_pem):
    """True if the PEM certificate CERT_PEM is for the private key KEY_PEM."""
    key = _load_pem_key(key_pem)
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        return False
    return _spki(cert.public_key()) == _spki(key.public_key())


def certificate_not_after(cert_pem):
    """The end of validity (an aware UTC datetime) of the PEM certificate CERT_PEM."""
    _require()
    return _not_after(x509.load_pem_x509_certificate(cert_pem))


def certificate_names(cert_pem):
    """Return (common name, [DNS names], [IP addresses as text]) of the PEM certificate CERT_PEM."""
    _require()
    cert = x509.load_pem_x509_certificate(cert_pem)
    common_name = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    try:
        alt_names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return common_name, [], []
    return common_name, alt_names.get_values_for_type(x509.DNSName), [str(ip) for ip in alt_names.get_values_for_type(x509.IPAddress)]
