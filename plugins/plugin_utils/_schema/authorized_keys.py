# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A credential made of SSH public keys (``authorized_keys:``), such as ``ssh.authorized_keys.root``.

Each entry is either the id of an ``ssh`` key pair of the same instance (its public
half) or an OpenSSH public key line. The value is public: it is built on every run
from the vars and the stored public halves, never kept in the controller store.

Pure code; errors name the variable path.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import re
import struct

from ansible_collections.microvm.credentials.plugins.plugin_utils._schema.checks import ConfigError, _list

# Key types sshd accepts in authorized_keys (sshd(8), AUTHORIZED_KEYS FILE FORMAT).
KEY_TYPES = (
    "ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
)
# TYPE BASE64 [COMMENT]: no options (from=, command=...), one printable ASCII line.
_LINE_RE = re.compile(r"(\S+) ([A-Za-z0-9+/]+={0,2})(?: ([ -~]{0,256}))?")
_WHAT = "an OpenSSH public key line (TYPE BASE64 [COMMENT]) or the id of an ssh key pair of this instance"


def _key_line(path, line):
    match = _LINE_RE.fullmatch(line)
    if match is None or match.group(1) not in KEY_TYPES:
        raise ConfigError(path, "must be %s, got %r" % (_WHAT, line[:80]))
    try:
        blob = base64.b64decode(match.group(2), validate=True)
        (length,) = struct.unpack(">I", blob[:4])
        embedded = blob[4:4 + length].decode("ascii")
    except (binascii.Error, struct.error, UnicodeDecodeError):
        embedded = None
    if embedded != match.group(1):
        # The type is repeated inside the key blob: a mismatch is a truncated or mixed-up paste.
        raise ConfigError(path, "is not a valid %s public key: its base64 part does not start with that type" % match.group(1))
    return line


def normalize(path, entries):
    """The normalised entries of AUTHORIZED_KEYS: [{"key_pair": ID}] or [{"key": LINE}], in order."""
    entries = _list(path, entries)
    if not entries:
        raise ConfigError(path, "must list at least one public key or ssh key pair id")
    out = []
    for i, entry in enumerate(entries):
        epath = "%s[%d]" % (path, i)
        if not isinstance(entry, str) or not entry:
            raise ConfigError(epath, "must be %s, got %r" % (_WHAT, entry))
        out.append({"key": _key_line(epath, entry)} if " " in entry else {"key_pair": entry})
    return out


def key_pairs(cred):
    """The ids of the key pairs whose public halves the normalised CRED lists."""
    return [e["key_pair"] for e in cred.get("authorized_keys", ()) if "key_pair" in e]


def check_references(path, creds):
    """Each key pair entry names an ssh key pair of this instance. CREDS maps ids to normalised credentials."""
    for cred_id, cred in sorted(creds.items()):
        for i, entry in enumerate(cred.get("authorized_keys", ())):
            ref = entry.get("key_pair")
            if ref is not None and creds.get(ref, {}).get("generate", {}).get("type") != "ssh":
                raise ConfigError("%s.%s.authorized_keys[%d]" % (path, cred_id, i),
                                  "must be %s; %r is not a credential of this instance with generate.type ssh" % (_WHAT, ref))


def value(cred, public):
    """The authorized_keys file of CRED: one line per entry. PUBLIC maps key pair ids to their public halves (bytes)."""
    lines = [public[e["key_pair"]] if "key_pair" in e else e["key"].encode("ascii") for e in cred["authorized_keys"]]
    return b"".join(line.rstrip(b"\n") + b"\n" for line in lines)
