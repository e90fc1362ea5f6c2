# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The interface every store backend implements: one backend, one file (_store/vault.py, _store/sops.py).

A backend only turns a value into file content and back; the store does every file operation."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleError


class StoreError(AnsibleError):
    """The store cannot be read or written; never answered by regenerating."""


class Backend(object):
    """How one kind of encrypted file is made and read."""

    name = None      # the value of microvm_credentials_backend: "vault", "sops"
    suffix = None    # file suffix of an encrypted value: ".vault", ".sops"

    def check(self):
        """Raise StoreError (message starts with the user's variable) when this backend cannot work at all."""
        raise NotImplementedError

    def encrypt(self, path, value):
        """The file content (bytes) that holds VALUE (bytes) for the file PATH; plaintext only in memory and pipes."""
        raise NotImplementedError

    def decrypt(self, path, data):
        """The value (bytes) of DATA, the content of the file PATH; StoreError naming PATH otherwise."""
        raise NotImplementedError

    def is_encrypted(self, data):
        """True if DATA looks like a file of this backend (a plaintext file is refused, never replaced)."""
        raise NotImplementedError

    def recipients(self, path, data):
        """Who can open the file now (sorted list of str), without decrypting."""
        raise NotImplementedError

    def wanted_recipients(self, path):
        """Who should be able to open PATH under the current configuration (same form), or None if unknown."""
        raise NotImplementedError
