# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The one atomic file write, for the host modules and the controller's store.

Standard library only. A reader sees the old file or the new one, never a part; after a
crash the new one is there or nothing changed, and at most a temporary file is left
(its name says which file it was for, so the owner of the directory can sweep it).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import tempfile

TEMP_SUFFIX = ".tmp"


def temp_prefix(path, pid=None):
    """The start of PATH's temporary file name: "." + its name + "." (8 random characters
    and TEMP_SUFFIX follow), then PID + "." when given: the controller's store, which
    several runs write at once, sweeps only the leftovers of writers that are gone."""
    return "." + os.path.basename(path).lstrip(".") + "." + ("" if pid is None else "%d." % pid)


def fsync_directory(directory):
    """Make a rename or an unlink in DIRECTORY durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path, data, mode=0o600, gid=None, prefix=None):
    """Write DATA (bytes) to PATH: a temporary file in PATH's directory (created 0600, so
    nobody reads it while it is written), fsync, MODE and the group GID (owner root: the
    caller's uid) set, rename over PATH, fsync the directory.

    PREFIX starts the temporary file's name (default temp_prefix(PATH)).
    """
    parent = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=prefix or temp_prefix(path), suffix=TEMP_SUFFIX, dir=parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if gid is not None:
            os.chown(tmp, -1, gid)
        if mode != 0o600:
            os.chmod(tmp, mode)
        os.rename(tmp, path)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)
    fsync_directory(parent)
