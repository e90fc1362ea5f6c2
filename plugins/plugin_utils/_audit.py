# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The controller half of the audit: what the store holds, fingerprints, orphans, the table.

Nothing here writes. Values are read to fingerprint them and to digest them for the
host; neither the fingerprint nor the digest lets anyone guess a value:

- A plain SHA-256 of a short password is a dictionary lookup away from the password,
  so a secret's fingerprint is an HMAC under a key derived from the vault password
  with PBKDF2 (FINGERPRINT_ITERATIONS, more than ansible-vault's own 10000): without
  the vault password it tells nothing, and guessing the vault password through it
  costs more than through any vault file of the store. It is stable across runs, so
  a changed fingerprint is a changed value.
- Key pairs are fingerprinted by their public half, as the tools that use them do.
- The host gets HMAC digests under a key drawn at random for each run (see
  module_utils/_host/audit.py): they travel on stdin and mean nothing in any other run.
- With a report key (the option report_key), each injected value also gets its
  HMAC-SHA256 under the value of the instance's credential of that name: what a guest
  that holds the same key can print and compare (the demo guest's credential-report).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import hmac
import os
import time

from ansible_collections.microvm.credentials.plugins.plugin_utils._generators import registry as _generators
from ansible_collections.microvm.credentials.plugins.plugin_utils._generators.kind import FINGERPRINT_BYTES
from ansible_collections.microvm.credentials.plugins.plugin_utils._store.public import SUFFIX as PUBLIC_SUFFIX
from ansible_collections.microvm.credentials.plugins.plugin_utils._store.backends import SUFFIXES
from ansible_collections.microvm.credentials.plugins.plugin_utils._store.store import META_SUFFIX, parse_time

FINGERPRINT_SALT = b"microvm.credentials audit fingerprint"
FINGERPRINT_ITERATIONS = 100000
DAY = 86400.0
# A state of the host's copy that needs a converge to fix.
OUT_OF_SYNC = ("differs", "missing", "rekey", "tampered")


# -- store metadata -------------------------------------------------------------

def _mtime(path):
    try:
        return os.stat(path).st_mtime
    except OSError:
        return None


def stored_times(store, instance, cred_id):
    """{"created": SECONDS, "rotated": SECONDS} of a secret in STORE (a Store), or None when
    it is not stored: from its metadata, read without decrypting (see Store.load_meta)."""
    meta = store.load_meta(instance, cred_id)
    if meta is None:
        return None
    rotated = parse_time(meta["rotated"])
    created = parse_time(meta.get("created")) or rotated
    return {"created": created.timestamp(), "rotated": rotated.timestamp()}


def public_times(store_root, instance, cred_id):
    """The same for a public half: its .pub file's modification time."""
    written = _mtime(os.path.join(store_root, instance or "", cred_id + PUBLIC_SUFFIX))
    return None if written is None else {"created": written, "rotated": written}


# -- fingerprints ---------------------------------------------------------------

def fingerprint_key(vault_secret):
    """The key of secret fingerprints, from the vault secret's bytes."""
    return hashlib.pbkdf2_hmac("sha256", vault_secret, FINGERPRINT_SALT, FINGERPRINT_ITERATIONS)


def secret_fingerprint(key, value):
    return "hmac:" + hmac.new(key, value, hashlib.sha256).hexdigest()[:2 * FINGERPRINT_BYTES]


def public_fingerprint(kind, public):
    """The fingerprint of the public half PUBLIC (bytes) of a KIND generator: the kind's own
    (ssh-keygen's for ssh, the key for wireguard, the certificate's hash for tls and ca)."""
    return _generators.public_fingerprint(kind, public)


def report_digest(key, value):
    """HMAC-SHA256 of VALUE under KEY, in hex, as the guest's credential-report prints it."""
    return hmac.new(key, value, hashlib.sha256).hexdigest()


def set_report_digests(rows, values, key_name):
    """Give the rows of one instance (VALUES: each row's value or None) their report digest under
    the value of its injected credential KEY_NAME. The key's own row and rows that hold no
    injected value keep None, as do all rows when the instance has no such key."""
    keys = [v for r, v in zip(rows, values) if key_name and r["name"] == key_name and v is not None]
    if not keys:
        return
    for r, value in zip(rows, values):
        if value is not None and r["name"] is not None and r["name"] != key_name:
            r["report_digest"] = report_digest(keys[0], value)


# -- orphans ----------------------------------------------------------------------

def _store_entries(store_root):
    """{instance: {id: [file names]}} of the vault, metadata and public files in the store."""
    entries = {}
    names = sorted(os.listdir(store_root)) if os.path.isdir(store_root) else []
    for instance in names:
        path = os.path.join(store_root, instance)
        if instance.startswith(".") or not os.path.isdir(path) or os.path.islink(path):
            continue
        ids = entries.setdefault(instance, {})
        for fname in sorted(os.listdir(path)):
            for suffix in SUFFIXES + (META_SUFFIX, PUBLIC_SUFFIX):
                if fname.endswith(suffix) and not fname.startswith(".") and len(fname) > len(suffix):
                    ids.setdefault(fname[:-len(suffix)], []).append(fname)
    return entries


def orphans(store_root, configured):
    """Store entries no configuration claims: [(instance, id)], sorted.

    CONFIGURED maps instance names to the ids of their stored credentials (vault files,
    and public halves: a public half is the file ID.pub of its key pair's ID).
    """
    found = []
    for instance, ids in sorted(_store_entries(store_root).items()):
        for cred_id in sorted(ids):
            if cred_id not in configured.get(instance, ()):
                found.append((instance, cred_id))
    return found


def _shared_entries(shared_root):
    """{name: [file names]} of the shared store, which has no instance level."""
    entries = {}
    names = sorted(os.listdir(shared_root)) if os.path.isdir(shared_root) else []
    for fname in names:
        if fname.startswith(".") or not os.path.isfile(os.path.join(shared_root, fname)):
            continue
        for suffix in SUFFIXES + (META_SUFFIX, PUBLIC_SUFFIX):
            if fname.endswith(suffix) and len(fname) > len(suffix):
                entries.setdefault(fname[:-len(suffix)], []).append(fname)
    return entries


def shared_orphans(shared_root, claimed):
    """Names in the shared store that no host of the inventory claims (CLAIMED: a set of names), sorted."""
    return sorted(name for name in _shared_entries(shared_root) if name not in claimed)


def shared_prune_paths(shared_root, claimed):
    entries = _shared_entries(shared_root)
    return [os.path.join(shared_root, f) for name in shared_orphans(shared_root, claimed) for f in entries[name]]


def orphan_labels(store_root, configured):
    """INSTANCE/* for an instance left the inventory, INSTANCE/ID for a credential."""
    labels = []
    for instance, cred_id in orphans(store_root, configured):
        if instance not in configured:
            label = instance + "/*"
            if label not in labels:
                labels.append(label)
        else:
            labels.append("%s/%s" % (instance, cred_id))
    return labels


def prune_paths(store_root, configured):
    """What pruning removes, in order: the orphans' vault and public files, then the
    directories of instances no longer configured that hold nothing else."""
    entries = _store_entries(store_root)
    files, dirs = [], []
    for instance, cred_id in orphans(store_root, configured):
        files.extend(os.path.join(store_root, instance, f) for f in entries[instance][cred_id])
    for instance in sorted(set(entries) - set(configured)):
        path = os.path.join(store_root, instance)
        known = set(f for fs in entries[instance].values() for f in fs)
        if set(os.listdir(path)) <= known:
            dirs.append(path)
    return files + dirs


# -- rows and the table -----------------------------------------------------------

def age_days(times, now=None):
    if times is None:
        return None
    return round(((now if now is not None else time.time()) - times["rotated"]) / DAY, 1)


def row(instance, cred_id, name, generator, times, fingerprint, now=None):
    """One controller row; the host's fields start unknown."""
    return {
        "instance": instance, "id": cred_id, "name": name, "generator": generator,
        "created": times and times["created"], "rotated": times and times["rotated"], "age_days": age_days(times, now),
        "fingerprint": fingerprint, "report_digest": None, "host": None, "restart_pending": False, "orphaned": False,
    }


def join_host(rows, host_credentials):
    """Fill in the host's view (module_utils/_host/audit.py) by (instance, guest name); host-only rows go last."""
    by_key = dict(((r["instance"], r["name"]), r) for r in rows if r["name"] is not None)
    extra = []
    for cred in host_credentials:
        target = by_key.get((cred["instance"], cred["name"]))
        if target is None:
            extra.append(dict(row(cred["instance"], None, cred["name"], None, None, None), orphaned=True,
                              host=cred["host"], restart_pending=cred["restart_pending"]))
        elif target["host"] is None:
            target["host"], target["restart_pending"] = cred["host"], cred["restart_pending"]
    return rows + extra


def ordered(rows):
    """By instance; within one, configured credentials first, then orphans, by id (or name)."""
    return sorted(rows, key=lambda r: (r["instance"], r["orphaned"], r["id"] or "", r["name"] or ""))


def _date(seconds):
    return "-" if seconds is None else time.strftime("%Y-%m-%d %H:%M", time.gmtime(seconds))


COLUMNS = ("INSTANCE", "CREDENTIAL", "GENERATOR", "CREATED (UTC)", "ROTATED (UTC)", "AGE", "FINGERPRINT", "HOST", "RESTART")


def table(rows):
    """The rows as aligned lines of text, a header first."""
    cells = [COLUMNS]
    for r in rows:
        label = r["id"] if r["id"] is not None else "(%s)" % r["name"]
        if r["orphaned"]:
            label += " [orphaned]"
        cells.append((r["instance"], label, r["generator"] or "-", _date(r["created"]), _date(r["rotated"]),
                      "-" if r["age_days"] is None else "%gd" % r["age_days"], r["fingerprint"] or "-",
                      r["host"] or "-", "pending" if r["restart_pending"] else "-"))
    widths = [max(len(c[i]) for c in cells) for i in range(len(COLUMNS))]
    return ["  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in cells]
