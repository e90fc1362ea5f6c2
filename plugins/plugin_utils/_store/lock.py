# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""One exclusive lock per controller store, held from the first read to the host's answer.

Two runs on one inventory must not both generate a missing secret: the second run
waits, then reads what the first one stored. The lock is ``flock`` on a sibling file
``DIR/.NAME.lock`` of the store ``DIR/NAME`` (the store itself holds only secret
files). The kernel drops it when its holder dies, so a killed run never leaves a
stale lock behind.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import fcntl
import os
import time

from ansible.errors import AnsibleError
from ansible.module_utils.common.text.converters import to_native

POLL_SECONDS = 0.2


class LockError(AnsibleError):
    """The store's lock cannot be taken."""


def lock_path(store):
    """The lock file of the (absolute) STORE."""
    store = os.path.normpath(store)
    return os.path.join(os.path.dirname(store), "." + os.path.basename(store) + ".lock")


class StoreLock:
    """Context manager: the exclusive lock of STORE, waiting at most TIMEOUT seconds.

    CREATE False (check mode) takes no lock when the store's parent directory does
    not exist yet: then there is nothing to read and nothing will be written.
    """

    def __init__(self, store, timeout, var_name="microvm_credentials_store", create=True):
        self.path = lock_path(store)
        self.timeout = timeout
        self.var_name = var_name
        self.create = create
        self._fd = None

    def _error(self, message):
        return LockError("%s: %s" % (self.var_name, message))

    def _open(self):
        parent = os.path.dirname(self.path)
        if not os.path.isdir(parent):
            if not self.create:
                return None
            try:
                os.makedirs(parent, 0o700)
            except OSError as exc:
                if exc.errno != errno.EEXIST:
                    raise self._error("cannot create the store's directory %s: %s" % (parent, to_native(exc)))
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o600)
        except OSError as exc:
            raise self._error("cannot open the lock file %s: %s" % (self.path, to_native(exc)))

    def acquire(self):
        fd = self._open()
        if fd is None:
            return self
        deadline = time.time() + self.timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    os.close(fd)
                    raise self._error("cannot lock %s: %s" % (self.path, to_native(exc)))
            if time.time() >= deadline:
                os.close(fd)
                raise self._error("another run has held the store's lock %s for more than %s seconds; wait for it to end "
                                  "or raise lock_timeout" % (self.path, self.timeout))
            time.sleep(POLL_SECONDS)
        self._fd = fd
        return self

    def release(self):
        if self._fd is not None:
            os.close(self._fd)  # closing the only descriptor drops the flock
            self._fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc_info):
        self.release()
        return False
