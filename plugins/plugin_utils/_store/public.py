# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Public halves of key pairs, in plain text beside the vault files.

Layout: ``STORE/INSTANCE/CREDENTIAL_ID.pub`` next to ``CREDENTIAL_ID.vault``: an SSH
public key line, a base64 WireGuard public key or a PEM certificate, ending with a
newline. Readable without the vault password (lookup ``microvm.credentials.public``).

Files are 0644: they are public by definition, meant to be read by templates and
tools, and git records no mode but the executable bit, so a clone has 0644 anyway.
The directories stay 0700 because they hold the vault files too. Writes are atomic
and happen only when the content changes, so git diffs show real changes only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os

from ansible.errors import AnsibleError
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.microvm.credentials.plugins.module_utils._fs import atomic_write, temp_prefix

SUFFIX = ".pub"


class PublicStoreError(AnsibleError):
    """A public half cannot be read or written."""


def public_path(root, instance, cred_id):
    """The public file of CRED_ID of INSTANCE (None: a shared secret, at the store's top level)."""
    return os.path.join(root, instance or "", cred_id + SUFFIX)


def load_public(root, instance, cred_id):
    """Return the public half (bytes, without the final newline), or None if there is none."""
    path = public_path(root, instance, cred_id)
    try:
        with open(path, "rb") as f:
            return f.read().rstrip(b"\n")
    except (IOError, OSError) as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise PublicStoreError("cannot read public key file %s: %s" % (path, to_native(exc)))


def _makedirs(directory):
    try:
        os.makedirs(directory, 0o700)
    except OSError as exc:
        if exc.errno != errno.EEXIST:
            raise PublicStoreError("cannot create secret store directory %s: %s" % (directory, to_native(exc)))


def save_public(root, instance, cred_id, value):
    """Write the public half VALUE (bytes); return True if the file changed."""
    if load_public(root, instance, cred_id) == value.rstrip(b"\n"):
        return False
    path = public_path(root, instance, cred_id)
    _makedirs(os.path.dirname(path))
    # Named as the store's own files (the writer's PID): the store's sweep removes a dead writer's leftover.
    atomic_write(path, value.rstrip(b"\n") + b"\n", mode=0o644, prefix=temp_prefix(path, os.getpid()))
    return True
