# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""``generate.type: wireguard``: a base64 X25519 private key; its public half is the public key."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.microvm.credentials.plugins.plugin_utils._generators import keypairs as _keypairs
from ansible_collections.microvm.credentials.plugins.plugin_utils._generators.kind import Kind, StoredValueError


class Wireguard(Kind):
    NAME = "wireguard"
    PUBLIC_HALF = "wireguard"

    def make(self, spec, deps, path):
        return _keypairs.wireguard()

    def current(self, spec, secret, public, deps, path):
        try:
            return secret, _keypairs.wireguard_public(secret)
        except _keypairs.KeyPairError as exc:
            raise StoredValueError(str(exc))

    def has_public(self, spec):
        return True

    def public_fingerprint(self, public):
        return "wg:" + public.decode("ascii")  # the public key itself, as `wg show` lists peers


KINDS = (Wireguard(),)
