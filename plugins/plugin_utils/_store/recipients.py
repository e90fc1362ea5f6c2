# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Who can open a store's files, checked before anything changes: files encrypted to other recipients
than the configuration wants (an error, or re-encrypted by an explicit rekey), and whether this operator
holds a key for them (a run that touches a host whose keys it lacks stops here, naming the key).
Reads each file's recipients without decrypting."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.microvm.credentials.plugins.plugin_utils._store.backend import StoreError

REKEY_VAR = "microvm_credentials_rekey"


def _seen(slots):
    """[(slot, (who can open it now, who should))] of the stored files among SLOTS, each file read once."""
    return [(slot, seen) for slot, seen in ((slot, slot.store.recipients(slot.directory, slot.name)) for slot in slots)
            if seen is not None]


def _stale(seen):
    return [(slot, now, wanted) for slot, (now, wanted) in seen if wanted is not None and sorted(now) != sorted(wanted)]


def stale(slots):
    """(slot, now, wanted) of every stored file among SLOTS not encrypted to whom the configuration wants."""
    return _stale(_seen(slots))


def check(slots, rekey, what):
    """Raise StoreError for the first file of SLOTS encrypted to other recipients, unless REKEY; then
    make sure this operator can open every stored file (backends that can tell: check_access).
    Returns the stale files (to rekey)."""
    seen_all = _seen(slots)
    found = _stale(seen_all)
    if found and not rekey:
        slot, now, wanted = found[0]
        path = slot.store.path(slot.directory, slot.name)
        plural = "" if len(found) == 1 else "s"
        raise StoreError("%s: %s is encrypted to %s, but the configuration wants %s (%d such file%s): re-encrypt them "
                         "with -e %s=true" % (slot.store.var_name, path, ", ".join(now) or "nobody", ", ".join(wanted),
                                              len(found), plural, REKEY_VAR))
    checked = set()
    for slot, seen in seen_all:
        if tuple(seen[0]) in checked:
            continue
        path = slot.store.path(slot.directory, slot.name)
        access = getattr(slot.store.backend, "check_access", None)  # sops: a key of ours opens these recipients
        if access is not None:
            access(seen[0], "%s (%s)" % (path, what))
        verify = getattr(slot.store.backend, "verify_key", None)  # vault: the file's HMAC, nothing decrypted
        if verify is not None:
            verify(path, slot.store.encrypted(slot.directory, slot.name))
        checked.add(tuple(seen[0]))
    return found


def rekey(found, check_mode):
    """Re-encrypt each stale file to its wanted recipients (the value only in memory and pipes).
    Returns the labels."""
    done = []
    for slot, dummy, dummy in found:
        if not check_mode:
            slot.store.save(slot.directory, slot.name, slot.load())
        done.append(slot.label)
    return done
