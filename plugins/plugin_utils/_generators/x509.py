# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""``generate.type`` ca and tls: a private key (PEM) whose public half is its certificate.

A ca certifies itself; a tls certificate is signed by the ca it names, or by its own
key. A stored certificate is kept while it fits its key, its CA and its names, and is
issued anew for the stored key otherwise.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import ipaddress
import re
import ssl

from ansible_collections.microvm.credentials.plugins.plugin_utils._generators import keypairs as _keypairs
from ansible_collections.microvm.credentials.plugins.plugin_utils._generators.kind import FINGERPRINT_BYTES, Kind, StoredValueError, text
from ansible_collections.microvm.credentials.plugins.plugin_utils._schema.checks import ConfigError, _int, _list

_KEY_OPTIONS = ("key_type", "bits", "curve")
_DNS_RE = re.compile(r"(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_COMMON_NAME_RE = re.compile(r"[^\x00-\x1f\x7f]{1,64}")


def _common_name(path, spec, default):
    return text(path + ".common_name", spec.get("common_name", default), _COMMON_NAME_RE,
                "a common name of 1 to 64 printable characters")


def _ips(path, values):
    for i, value in enumerate(values):
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise ConfigError("%s[%d]" % (path, i), "must be an IPv4 or IPv6 address, got %r" % (value,))
    return values


class _Certified(Kind):
    """What ca and tls share: a key whose public half is a certificate, renewed before it ends."""

    def current(self, spec, secret, public, deps, path):
        try:
            return secret, self._certificate(spec, secret, public, deps)
        except _keypairs.KeyPairError as exc:
            raise StoredValueError(str(exc))

    def has_public(self, spec):
        return True

    def public_fingerprint(self, public):
        der = ssl.PEM_cert_to_DER_cert(public.decode("ascii"))
        return "x509-sha256:" + hashlib.sha256(der).hexdigest()[:2 * FINGERPRINT_BYTES]


class Ca(_Certified):
    NAME = "ca"
    KEYS = frozenset(("type", "common_name", "days") + _KEY_OPTIONS)
    PUBLIC_HALF = "ca"

    def normalize(self, path, spec, cred_id):
        out = _keypairs.key_options(path, spec, "ecdsa")
        out["common_name"] = _common_name(path, spec, cred_id)
        out["days"] = _int(path + ".days", spec.get("days", 3650), 1, 36500)
        return out

    def make(self, spec, deps, path):
        return _keypairs.ca(spec["common_name"], spec["days"], spec["key_type"], spec["bits"], spec["curve"])

    def _certificate(self, spec, secret, public, deps):
        if public is not None and _keypairs.certificate_matches_key(public, secret):
            return public
        return _keypairs.ca_certificate(secret, spec["common_name"], spec["days"])


class Tls(_Certified):
    NAME = "tls"
    KEYS = frozenset(("type", "common_name", "dns", "ips", "days", "ca") + _KEY_OPTIONS)
    PUBLIC_HALF = "tls"

    def normalize(self, path, spec, cred_id):
        out = _keypairs.key_options(path, spec, "ecdsa")
        out["dns"] = [text("%s.dns[%d]" % (path, i), name, _DNS_RE, "a DNS name")
                      for i, name in enumerate(_list(path + ".dns", spec.get("dns")))]
        out["ips"] = _ips(path + ".ips", _list(path + ".ips", spec.get("ips")))
        out["common_name"] = _common_name(path, spec, out["dns"][0] if out["dns"] else cred_id)
        out["days"] = _int(path + ".days", spec.get("days", 365), 1, 36500)
        out["ca"] = spec.get("ca")  # checked against the other credentials by check_references
        return out

    @staticmethod
    def _ca_pair(spec, deps):
        return deps[spec["ca"]] if spec["ca"] is not None else None

    def make(self, spec, deps, path):
        return _keypairs.tls(spec["common_name"], spec["dns"], spec["ips"], spec["days"], self._ca_pair(spec, deps),
                             spec["key_type"], spec["bits"], spec["curve"])

    def _certificate(self, spec, secret, public, deps):
        """The stored certificate if it still fits the key, the CA and the definition, else a new one."""
        names = (spec["common_name"], spec["dns"], spec["ips"])
        if public is not None and _keypairs.certificate_matches_key(public, secret) and _keypairs.certificate_names(public) == names:
            return public
        return _keypairs.certificate(secret, spec["common_name"], spec["dns"], spec["ips"], spec["days"], self._ca_pair(spec, deps))

    def inputs(self, spec):
        return [spec["ca"]] if spec["ca"] is not None else []

    def check_references(self, path, cred_id, spec, creds):
        if spec["ca"] is not None and creds.get(spec["ca"], {}).get("generate", {}).get("type") != Ca.NAME:
            raise ConfigError("%s.%s.generate.ca" % (path, cred_id),
                              "must name a credential of this instance with generate.type ca, got %r" % (spec["ca"],))

    def named(self, spec, shared_name_of):
        return dict(spec, ca=None if spec["ca"] is None else shared_name_of(spec["ca"]))


KINDS = (Tls(), Ca())
CERTIFICATE_KINDS = tuple(kind.NAME for kind in KINDS)
