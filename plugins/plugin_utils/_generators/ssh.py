# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""``generate.type: ssh``: an OpenSSH private key; its public half is the key line."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import re

from ansible_collections.microvm.credentials.plugins.plugin_utils._generators import keypairs as _keypairs
from ansible_collections.microvm.credentials.plugins.plugin_utils._generators.kind import Kind, StoredValueError, text

_COMMENT_RE = re.compile(r"[ -~]{0,256}")  # printable ASCII: it ends the public key line


def ssh_fingerprint(public_line):
    """SHA256:BASE64 of an SSH public key line, as `ssh-keygen -l` prints it."""
    blob = base64.b64decode(public_line.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode("ascii").rstrip("=")


class Ssh(Kind):
    NAME = "ssh"
    KEYS = frozenset(("type", "comment", "key_type", "bits", "curve"))
    PUBLIC_HALF = "ssh"

    def normalize(self, path, spec, cred_id):
        out = _keypairs.key_options(path, spec, "ed25519")
        out["comment"] = text(path + ".comment", spec.get("comment", ""), _COMMENT_RE, "printable ASCII text of at most 256 characters")
        return out

    def make(self, spec, deps, path):
        return _keypairs.ssh(spec["key_type"], spec["bits"], spec["curve"], spec["comment"])

    def current(self, spec, secret, public, deps, path):
        try:
            return secret, _keypairs.ssh_public(secret, spec["comment"])
        except _keypairs.KeyPairError as exc:
            raise StoredValueError(str(exc))

    def has_public(self, spec):
        return True

    def public_fingerprint(self, public):
        return ssh_fingerprint(public)


KINDS = (Ssh(),)
