# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Host credential store: systemd-creds encrypted files, one per credential.

Layout: ``DIRECTORY/INSTANCE/NAME.cred`` (0600, directories 0700), loaded by
``LoadCredentialEncrypted=NAME:DIRECTORY/INSTANCE/NAME.cred``. Values reach
systemd-creds on stdin only, never in argv or the environment.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

KEYS = ("auto", "host", "tpm2", "host+tpm2")
SUFFIX = ".cred"


def cred_path(directory, instance, name):
    return os.path.join(directory, instance, name + SUFFIX)


def encrypt_argv(systemd_creds, name, output, key):
    # '-' reads the plaintext from stdin; --name binds the blob to the credential id
    # so systemd refuses it under another name.
    return [systemd_creds, "encrypt", "--name=" + name, "--with-key=" + key, "-", output]


def decrypt_argv(systemd_creds, name, path):
    return [systemd_creds, "decrypt", "--name=" + name, path, "-"]


def plan(directory, desired, existing_names, read_current):
    """Work out what has to change.

    DESIRED maps instance -> {name: bytes}. EXISTING_NAMES maps instance -> set of
    names with a .cred file; instances there but not in DESIRED are removed whole. READ_CURRENT(instance, name) returns the decrypted
    value or None when it cannot be decrypted (then it is rewritten).
    Returns dict(write=[(instance, name)], remove=[(instance, name)]), sorted.
    """
    write, remove = [], []
    for instance in sorted(set(desired) | set(existing_names)):
        present = existing_names.get(instance, set())
        wanted = desired.get(instance, {})  # an instance no longer configured loses all
        for name in sorted(wanted):
            if name not in present or read_current(instance, name) != wanted[name]:
                write.append((instance, name))
        for name in sorted(present - set(wanted)):
            remove.append((instance, name))
    return {"write": write, "remove": remove}


def list_instances(directory):
    """Instances with a directory in the credential store."""
    try:
        return sorted(e for e in os.listdir(directory) if os.path.isdir(os.path.join(directory, e)) and not e.startswith("."))
    except OSError:
        return []


def list_names(directory, instance):
    """Names of the credentials stored for INSTANCE (files NAME.cred)."""
    try:
        entries = os.listdir(os.path.join(directory, instance))
    except OSError:
        return set()
    return set(e[:-len(SUFFIX)] for e in entries if e.endswith(SUFFIX) and not e.startswith("."))


def diff_lines(desired, changes):
    """A diff that names credentials and never shows a value."""
    before, after = [], []
    writes, removes = set(changes["write"]), set(changes["remove"])
    for instance in sorted(set(desired) | set(i for i, n in removes)):
        for name in sorted(set(desired.get(instance, {})) | set(n for i, n in removes if i == instance)):
            key = (instance, name)
            label = "%s/%s" % (instance, name)
            if key in removes:
                before.append(label + ": present\n")
            elif key in writes:
                before.append(label + ": absent or different\n")
                after.append(label + ": encrypted (new value)\n")
            else:
                before.append(label + ": unchanged\n")
                after.append(label + ": unchanged\n")
    return {"before": "".join(before), "after": "".join(after),
            "before_header": "credential store", "after_header": "credential store"}
