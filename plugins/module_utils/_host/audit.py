# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The host half of the audit: is each credential what a converge would leave alone?

The controller sends, per credential, the token a converge would send (a keyed digest
of its encrypted source, never of the value); the host compares it, the key and the
file's digest with its manifest. The comparison is the host module's own rewrite
decision (credstore.plan), so "in sync" means exactly "a converge would leave it alone".
Nothing is decrypted.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from .credstore import plan


def compare(expected, owned, key, current_sha256):
    """{(instance, name): STATE} for the EXPECTED tokens ({instance: {name: token}}).

    STATE is in-sync, missing (the host does not hold it, or its file is gone), rekey
    (sealed with another key than KEY), tampered (its file changed since it was written)
    or differs (made from another source). Credentials the host holds (OWNED, from its
    manifest) for no expected name are host-only.
    """
    changes = plan(expected, owned, key, current_sha256)
    write, rekey, tampered = set(changes["write"]), set(changes["rekey"]), set(changes["tampered"])
    states = {}
    for instance in expected:
        for name in expected[instance]:
            item = (instance, name)
            if item in rekey:
                states[item] = "rekey"
            elif item in write and (name not in owned.get(instance, {}) or current_sha256(instance, name) is None):
                states[item] = "missing"
            elif item in tampered:
                states[item] = "tampered"
            elif item in write:
                states[item] = "differs"
            else:
                states[item] = "in-sync"
    for item in changes["remove"]:
        states[item] = "host-only"
    return states
