# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Moving a store from one backend to another (playbooks/migrate_store.yml), e.g. vault to sops.

Every value is read first: a file no key opens stops the move before anything changes. Then, one
secret at a time, the new file is written and read back, its value compared with the old one by
an HMAC under a key drawn for this run (the values never leave memory, the digests never leave
this module), and only then is the old file removed. A run stopped in between leaves both files;
the next run finds the new one holding the same value and removes the old one. The ``.meta`` and
``.pub`` files beside a value stay as they are.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import hashlib
import hmac
import os

from ansible.module_utils.common.text.converters import to_native

from ansible_collections.microvm.credentials.plugins.plugin_utils._store.backend import StoreError


def stored_entries(root, suffix):
    """(instance, id) of each value under ROOT in files ending in SUFFIX, sorted: INSTANCE/ID.SUFFIX,
    and ID.SUFFIX at the top (instance None: a shared store). Dot files (locks, temporary files,
    the token key) are no values."""
    found = []
    try:
        top = sorted(os.listdir(root))
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return []
        raise
    for name in top:
        path = os.path.join(root, name)
        if name.startswith("."):
            continue
        if os.path.isdir(path) and not os.path.islink(path):
            found += [(name, f[:-len(suffix)]) for f in sorted(os.listdir(path))
                      if f.endswith(suffix) and not f.startswith(".") and len(f) > len(suffix)]
        elif name.endswith(suffix) and len(name) > len(suffix):
            found.append((None, name[:-len(suffix)]))
    return found


def _digest(key, value):
    return hmac.new(key, value, hashlib.sha256).digest()


def migrate(src, dst, check_mode=False, key=None):
    """Move every value of the Store SRC into the Store DST (same root, another backend). Returns one
    dict per secret: old, new (paths) and action: ``move`` (check mode), ``moved``, or ``finished``
    (an earlier run had written the new file). Values are never part of it."""
    key = key or os.urandom(32)
    dst.backend.check()
    # Read everything first: a file no key opens, or two files that disagree, stop the move before
    # anything changes.
    plan, probed = [], set()
    for entry in stored_entries(src.root, src.backend.suffix):
        old, new = src.path(*entry), dst.path(*entry)
        value = src.load(*entry)
        existing = dst.encrypted(*entry)
        if existing is not None and not hmac.compare_digest(_digest(key, dst.backend.decrypt(new, existing)),
                                                            _digest(key, value)):
            raise StoreError("%s: both %s and %s exist and hold different values: keep the right one, remove the other, "
                             "and run the move again" % (src.var_name, old, new))
        if existing is None:
            _check_round_trip(dst, new, probed)
        plan.append((entry, old, new, value, existing is not None))
    results = []
    for entry, old, new, value, written in plan:
        if check_mode:
            results.append({"old": old, "new": new, "action": "finish" if written else "move"})
            continue
        if not written:
            dst.save(entry[0], entry[1], value)
            try:
                back = dst.load(*entry)
            except StoreError:
                _remove(dst, new)
                raise
            if back is None or not hmac.compare_digest(_digest(key, back), _digest(key, value)):
                _remove(dst, new)
                raise StoreError("%s: %s did not read back as the value of %s; the old file is kept" % (dst.var_name, new, old))
        _remove(src, old)
        results.append({"old": old, "new": new, "action": "finished" if written else "moved"})
    return results


def _check_round_trip(dst, path, probed):
    """Before anything changes: this operator can read back what DST writes to PATH (e.g. holds an age key
    of its recipients), tried on an empty value, once per set of recipients."""
    wanted = dst.backend.wanted_recipients(path)
    marker = tuple(wanted) if wanted is not None else path
    if marker in probed:
        return
    dst.backend.decrypt(path, dst.backend.encrypt(path, b""))
    probed.add(marker)


def _remove(store, path):
    try:
        os.unlink(path)
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise StoreError("%s: cannot remove %s: %s" % (store.var_name, path, to_native(exc)))
