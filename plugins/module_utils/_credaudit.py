# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The host half of the audit: what the host holds, compared without any value crossing.

The controller sends, per credential, HMAC-SHA256(K, value) with a key K it drew at
random for this run; the host decrypts its credential, computes the same and says
only whether they match. The comparison is the host module's own rewrite decision
(_credstore.plan), so "in sync" means exactly "a converge would leave it alone".
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import hmac

from ansible_collections.microvm.credentials.plugins.module_utils._credstore import plan


def digest(key, value):
    """HMAC-SHA256 of VALUE (bytes) under KEY (bytes), hex: what the controller sends and the host computes."""
    return hmac.new(key, value, hashlib.sha256).hexdigest()


def compare(expected, owned, key, current_digest, exists=None):
    """{(instance, name): STATE} for the EXPECTED digests ({instance: {name: digest}}).

    STATE is in-sync, missing (the host does not hold it: not in its manifest, or its file
    is gone, EXISTS(instance, name) false), rekey (sealed with another key than KEY) or
    differs (another value, or it cannot be decrypted). Credentials the host holds (OWNED,
    from its manifest) for no expected name are host-only.
    """
    changes = plan(expected, owned, key, current_digest)
    write, rekey = set(changes["write"]), set(changes["rekey"])
    exists = exists or (lambda instance, name: True)
    states = {}
    for instance in expected:
        for name in expected[instance]:
            item = (instance, name)
            if item in write and (name not in owned.get(instance, {}) or not exists(instance, name)):
                states[item] = "missing"
            elif item in rekey:
                states[item] = "rekey"
            elif item in write:
                states[item] = "differs"
            else:
                states[item] = "in-sync"
    for item in changes["remove"]:
        states[item] = "host-only"
    return states
