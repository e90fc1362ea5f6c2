# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The ansible-vault backend: one vault file per secret, whose plaintext is exactly the secret.

`ansible-vault view FILE` shows it. With microvm_credentials_vault_id set, new files
are encrypted with that vault id's secret, so each host (or group) can have a vault
password of its own; decryption tries the secrets Ansible was given.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import hmac

from ansible import constants as C
from ansible.errors import AnsibleError
from ansible.module_utils.common.text.converters import to_bytes, to_native
from ansible.parsing.vault import VaultAES256, VaultLib, is_encrypted, match_encrypt_secret, parse_vaulttext, parse_vaulttext_envelope

from ansible_collections.microvm.credentials.plugins.plugin_utils._store.backend import Backend, StoreError
from ansible_collections.microvm.credentials.plugins.plugin_utils._store.store import Store

VAULT_ID_VAR = "microvm_credentials_vault_id"
_NO_SECRET = "use --vault-password-file, --vault-id or ANSIBLE_VAULT_PASSWORD_FILE"


class VaultBackend(Backend):
    name = "vault"
    title = "ansible-vault"
    suffix = ".vault"

    def __init__(self, vault_secrets, vault_id=None, var_name="microvm_credentials_store"):
        self.vault_secrets = vault_secrets or []
        self.vault_id = vault_id
        self.var_name = var_name
        self._vault = VaultLib(self.vault_secrets)

    @classmethod
    def from_options(cls, options):
        return cls(options.get("vault_secrets"), options.get("vault_id"), options.get("var_name", "microvm_credentials_store"))

    def _error(self, message):
        return StoreError("%s: %s" % (self.var_name, message))

    def check(self):
        if self.vault_id and self.vault_id not in [vid for vid, dummy in self.vault_secrets]:
            raise StoreError("%s: no vault secret with id %r was given (known: %s); %s"
                             % (VAULT_ID_VAR, self.vault_id, ", ".join(sorted(set(v for v, s in self.vault_secrets))) or "none",
                                _NO_SECRET))

    def is_encrypted(self, data):
        return is_encrypted(data)

    def encrypt(self, path, value):
        if not self.vault_secrets:
            raise self._error("no vault secret to encrypt the secret store with (%s)" % _NO_SECRET)
        self.check()
        vault_id, secret = match_encrypt_secret(self.vault_secrets, encrypt_vault_id=self.vault_id or C.DEFAULT_VAULT_ENCRYPT_IDENTITY)
        return to_bytes(self._vault.encrypt(value, secret, vault_id=vault_id))

    def decrypt(self, path, data):
        if not self.vault_secrets:
            raise self._error("secret store file %s is vault encrypted but no vault secret was given (%s)" % (path, _NO_SECRET))
        try:
            return self._vault.decrypt(data)
        except AnsibleError as exc:
            raise self._error("cannot decrypt secret store file %s (it is never regenerated implicitly; "
                              "restore it or rotate the secret explicitly): %s" % (path, to_native(exc)))

    def verify_key(self, path, data):
        """Raise StoreError unless a vault secret of this run opens DATA, the file PATH, checked by the
        file's HMAC alone: nothing is decrypted, so a run that changes nothing still tells a wrong
        vault password before anything changes."""
        try:
            b_vaulttext, dummy, dummy, vault_id = parse_vaulttext_envelope(data)
            ciphertext, salt, crypted_hmac = parse_vaulttext(b_vaulttext)
        except (AnsibleError, ValueError, TypeError) as exc:
            raise self._error("cannot decrypt secret store file %s: %s" % (path, to_native(exc)))
        candidates = [s for vid, s in self.vault_secrets if vid == vault_id] or [s for vid, s in self.vault_secrets]
        for secret in candidates:
            dummy, key2, dummy = VaultAES256._gen_key_initctr(secret.bytes, salt)
            if hmac.compare_digest(hmac.new(key2, ciphertext, hashlib.sha256).hexdigest().encode("ascii"), crypted_hmac):
                return
        raise self._error("cannot decrypt secret store file %s (it is never regenerated implicitly; restore it or rotate "
                          "the secret explicitly): no vault secret given opens it (vault id %s)" % (path, vault_id or "default"))

    def recipients(self, path, data):
        try:
            dummy, dummy, dummy, vault_id = parse_vaulttext_envelope(data)
        except (AnsibleError, ValueError):
            return []
        return [vault_id or C.DEFAULT_VAULT_IDENTITY]

    def wanted_recipients(self, path):
        return [self.vault_id] if self.vault_id else None


class VaultStore(Store):
    """A Store of ansible-vault files."""

    def __init__(self, root, vault_secrets, var_name="microvm_credentials_store", vault_id=None, writable=True):
        Store.__init__(self, root, VaultBackend(vault_secrets, vault_id, var_name), var_name, writable)
