# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What a store backend is: how one kind of encrypted file is made and read.

One file per backend (vault.py, sops.py), listed in backends.py. A backend never
touches the file system: the Store (store.py) reads and writes the files, and hands
the backend bytes. Plaintext only ever lives in memory and pipes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleError


class StoreError(AnsibleError):
    """The store cannot be read or written; never answered by regenerating."""


class Backend(object):
    """The interface. NAME is the value of microvm_credentials_backend, SUFFIX the file suffix."""

    name = None
    title = None  # how errors name the encryption, e.g. ansible-vault
    suffix = None

    @classmethod
    def from_options(cls, options):
        """The backend for OPTIONS, the dict the action fills from its variables (see backends.make_backend)."""
        raise NotImplementedError

    def check(self):
        """Raise StoreError (naming the user's variable) when this backend cannot work at all here:
        a missing tool, an unknown key id. Called before anything changes."""

    def encrypt(self, path, value):
        """The file content (bytes) that holds VALUE (bytes) for the file PATH (which may pick recipients)."""
        raise NotImplementedError

    def decrypt(self, path, data):
        """The value (bytes) held by DATA, the content of the file PATH; StoreError naming PATH when no key opens it."""
        raise NotImplementedError

    def is_encrypted(self, data):
        """True if DATA is a file of this backend: a plaintext file is refused, never replaced."""
        raise NotImplementedError

    def recipients(self, path, data):
        """Who can open DATA now (sorted list of text), read without decrypting."""
        return []

    def wanted_recipients(self, path):
        """Who should be able to open PATH under the current configuration (same form), or None if unknown."""
        return None
