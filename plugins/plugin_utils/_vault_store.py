# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The controller's secret store: one ansible-vault file per secret.

Layout: ``STORE/INSTANCE/CREDENTIAL_ID.vault``, the plaintext being the secret bytes
exactly, so ``ansible-vault view`` shows it and a git diff touches only the secret
that changed. Files are written atomically (temporary file, then rename), 0600 in
0700 directories.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import re
import tempfile

from ansible import constants as C
from ansible.errors import AnsibleError
from ansible.module_utils.common.text.converters import to_bytes, to_native
from ansible.parsing.vault import VaultLib, is_encrypted, match_encrypt_secret


_TMP_RE = re.compile(r"^\.[A-Za-z0-9_.-]+\.(\d+)\.[A-Za-z0-9_]+\.tmp$")


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _unlink_quietly(path):
    try:
        os.unlink(path)
    except OSError:
        pass


class StoreError(AnsibleError):
    """The store cannot be read or written; never answered by regenerating."""


def resolve_store_path(store, base_dir, var_name="microvm_credentials_store"):
    """The absolute store path: a relative STORE is taken relative to BASE_DIR.

    BASE_DIR is the inventory directory (else the playbook directory), never the
    current directory: a store that silently moved with the cwd would be a new, empty
    store, and every secret would be generated anew.
    """
    store = os.path.expanduser(store)
    if not os.path.isabs(store):
        if not base_dir:
            raise StoreError("%s: %r is relative, and there is no inventory or playbook directory to resolve it against"
                             % (var_name, store))
        store = os.path.join(base_dir, store)
    return os.path.normpath(store)


class VaultStore:
    def __init__(self, root, vault_secrets, var_name="microvm_credentials_store"):
        self.root = root
        self.vault_secrets = vault_secrets or []
        self.var_name = var_name
        self._vault = VaultLib(self.vault_secrets)

    def _error(self, message):
        return StoreError("%s: %s" % (self.var_name, message))

    def path(self, instance, cred_id):
        return os.path.join(self.root, instance, cred_id + ".vault")

    def load(self, instance, cred_id):
        """Return the stored secret bytes, or None when there is no such file."""
        path = self.path(instance, cred_id)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except (IOError, OSError) as exc:
            if exc.errno == errno.ENOENT:
                return None
            raise self._error("cannot read secret store file %s: %s" % (path, to_native(exc)))
        if not is_encrypted(data):
            raise self._error("secret store file %s is not ansible-vault encrypted; refusing to use or replace it" % path)
        if not self.vault_secrets:
            raise self._error("secret store file %s is vault encrypted but no vault secret was given "
                              "(use --vault-password-file, --vault-id or ANSIBLE_VAULT_PASSWORD_FILE)" % path)
        try:
            return self._vault.decrypt(data)
        except AnsibleError as exc:
            raise self._error("cannot decrypt secret store file %s (it is never regenerated implicitly; "
                              "restore it or rotate the secret explicitly): %s" % (path, to_native(exc)))

    def sweep(self):
        """Remove temporary files that runs killed while saving left behind.

        Only files of processes that no longer exist: a concurrent run's file stays.
        A leftover never replaced a secret (the rename did not happen), so nothing is lost.
        """
        removed = []
        for dirpath, dummy, files in os.walk(self.root):
            for name in files:
                match = _TMP_RE.fullmatch(name)
                if match and not _pid_alive(int(match.group(1))):
                    path = os.path.join(dirpath, name)
                    try:
                        os.unlink(path)
                    except OSError as exc:
                        raise self._error("cannot remove the leftover temporary file %s: %s" % (path, to_native(exc)))
                    removed.append(path)
        return removed

    def _encrypt(self, value):
        if not self.vault_secrets:
            raise self._error("no vault secret to encrypt the secret store with "
                              "(use --vault-password-file, --vault-id or ANSIBLE_VAULT_PASSWORD_FILE)")
        vault_id, secret = match_encrypt_secret(self.vault_secrets, encrypt_vault_id=C.DEFAULT_VAULT_ENCRYPT_IDENTITY)
        return self._vault.encrypt(value, secret, vault_id=vault_id)

    def save(self, instance, cred_id, value):
        """Write VALUE (bytes) encrypted, atomically, replacing any previous file."""
        path = self.path(instance, cred_id)
        data = self._encrypt(value)
        for directory in (self.root, os.path.dirname(path)):
            try:
                os.makedirs(directory, 0o700)
            except OSError as exc:
                if exc.errno != errno.EEXIST:
                    raise self._error("cannot create secret store directory %s: %s" % (directory, to_native(exc)))
        try:
            # The PID in the name lets a later run tell a dead run's leftover from a live one's.
            fd, tmp = tempfile.mkstemp(prefix=".%s.%d." % (cred_id, os.getpid()), suffix=".tmp", dir=os.path.dirname(path))
        except OSError as exc:
            raise self._error("cannot write secret store file %s: %s" % (path, to_native(exc)))
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(to_bytes(data))
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o600)
            os.rename(tmp, path)
        except OSError as exc:  # ENOSPC, EDQUOT, EIO...
            _unlink_quietly(tmp)
            raise self._error("cannot write secret store file %s: %s" % (path, to_native(exc)))
        except BaseException:
            _unlink_quietly(tmp)
            raise
        return path
