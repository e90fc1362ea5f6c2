# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The controller store: one encrypted file per secret, in the form of its backend.

Layout: ``STORE/INSTANCE/CREDENTIAL_ID.SUFFIX`` (``.vault``, ``.sops``: see the
backends), so a git diff touches only the secret that changed. The shared store
(secrets of ``scope: shared``) has no instance level: ``SHARED_STORE/SHARED_NAME.SUFFIX``.
Files are written by the one atomic write (module_utils/_fs.py), 0600 in 0700 directories.

Beside each encrypted file, ``CREDENTIAL_ID.meta`` records in plain JSON what is not
secret: the generator, a hash of its definition (never of the value), when the
secret was created and last made anew, why, and by which run. An audit reads it
without any key. A missing file (stores of older releases) is recorded
on the next run; the encrypted file's modification time stands for its age until then.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import errno
import hashlib
import json
import os
import re

from ansible.module_utils.common.text.converters import to_native

from ansible_collections.microvm.credentials.plugins.module_utils._fs import atomic_write, temp_prefix
from ansible_collections.microvm.credentials.plugins.plugin_utils._store import public as _public
from ansible_collections.microvm.credentials.plugins.plugin_utils._store.backend import StoreError


# _fs.temp_prefix(PATH, PID) + 8 random characters + ".tmp": what sweep() may remove.
_TMP_RE = re.compile(r"^\.[A-Za-z0-9_.-]+\.(\d+)\.[A-Za-z0-9_]+\.tmp$")
META_SUFFIX = ".meta"
TOKEN_KEY = ".token-key"
META_VERSION = 1
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
# _TIME_FORMAT as strptime reads it: one or two digits per field but the year, 1 to 6 of a second.
_TIME_RE = re.compile(r"(\d{4})-(\d\d?)-(\d\d?)T(\d\d?):(\d\d?):(\d\d?)\.(\d{1,6})Z", re.ASCII)


def format_time(when):
    """The metadata form of the aware datetime WHEN: UTC, microseconds, e.g. 2026-01-31T12:00:00.000000Z."""
    return when.astimezone(datetime.timezone.utc).strftime(_TIME_FORMAT)


def parse_time(text):
    """The aware datetime of a metadata time, or None when TEXT is not one. What strptime(TEXT,
    _TIME_FORMAT) accepts, at a tenth of its cost: a run reads three per stored secret."""
    match = _TIME_RE.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        return None
    fields = [int(field) for field in match.groups()[:6]] + [int(match.group(7).ljust(6, "0"))]
    try:
        return datetime.datetime(*fields, tzinfo=datetime.timezone.utc)
    except ValueError:  # a 31st of April, a 25th hour
        return None


def run_id():
    """Names this ansible-playbook run, the same in every fork: its main process and that
    process's start time (a PID alone is reused). A secret is made anew at most once per run."""
    parent = os.getppid()
    try:
        with open("/proc/%d/stat" % parent) as f:
            start = f.read().rsplit(")", 1)[1].split()[19]  # field 22, counted after the command name
    except (IOError, OSError, IndexError):
        start = "?"
    return "%d-%s" % (parent, start)


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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


def file_digest(path):
    """SHA-256 (hex) of the file PATH, None when it does not exist. Of an encrypted file: it says
    nothing about the value, and changes whenever the value is written anew."""
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except (IOError, OSError) as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise


class Store:
    """The secrets under ROOT, encrypted by BACKEND (see backend.py). VAR_NAME names the store
    in errors. DECRYPTIONS counts the values this store decrypted (a no-op converge decrypts none)."""

    def __init__(self, root, backend, var_name="microvm_credentials_store", writable=True):
        self.root = root
        self.backend = backend
        self.var_name = var_name
        self.writable = writable  # False in check mode and for the audit: nothing is written, not even the token key
        self.decryptions = 0
        self._token_key = None

    def _error(self, message):
        return StoreError("%s: %s" % (self.var_name, message))

    def path(self, instance, cred_id, suffix=None):
        """The file of CRED_ID of INSTANCE (None: a shared secret, at the store's top level)."""
        return os.path.join(self.root, instance or "", cred_id + (self.backend.suffix if suffix is None else suffix))

    def _read(self, path):
        try:
            with open(path, "rb") as f:
                return f.read()
        except (IOError, OSError) as exc:
            if exc.errno == errno.ENOENT:
                return None
            raise self._error("cannot read secret store file %s: %s" % (path, to_native(exc)))

    def exists(self, instance, cred_id):
        return os.path.lexists(self.path(instance, cred_id))

    def token(self, instance, cred_id):
        """The digest of the encrypted file (None: not stored): changes with every write, read without decrypting."""
        try:
            return file_digest(self.path(instance, cred_id))
        except (IOError, OSError) as exc:
            raise self._error("cannot read secret store file %s: %s" % (self.path(instance, cred_id), to_native(exc)))

    def encrypted(self, instance, cred_id):
        """The encrypted file's content, checked to be one of the backend's, or None when there is none."""
        path = self.path(instance, cred_id)
        data = self._read(path)
        if data is not None and not self.backend.is_encrypted(data):
            raise self._error("secret store file %s is not %s encrypted; refusing to use or replace it" % (path, self.backend.title))
        return data

    def load(self, instance, cred_id):
        """Return the stored secret bytes, or None when there is no such file."""
        data = self.encrypted(instance, cred_id)
        if data is None:
            return None
        self.decryptions += 1
        return self.backend.decrypt(self.path(instance, cred_id), data)

    def recipients(self, instance, cred_id):
        """(who can open the file now, who should), without decrypting; None when it is not stored."""
        data = self.encrypted(instance, cred_id)
        if data is None:
            return None
        path = self.path(instance, cred_id)
        return self.backend.recipients(path, data), self.backend.wanted_recipients(path)

    def token_key(self):
        """The key of the digests this store gives out (tokens for the host, check records): random,
        made once, kept in ROOT/.token-key. It guards digests of plaintext src files against lookups;
        it opens nothing. In a store that is not writable a missing key is drawn for this run only."""
        if self._token_key is None:
            self._token_key = self._load_token_key()
        return self._token_key

    def _load_token_key(self):
        path = os.path.join(self.root, TOKEN_KEY)
        data = self._read(path)
        if data is not None and re.fullmatch(b"[0-9a-f]{64}\n?", data):
            return bytes.fromhex(data.strip().decode("ascii"))
        if data is not None:
            raise self._error("%s is not a token key this collection wrote; remove it (every credential is then sent once)" % path)
        key = os.urandom(32)
        if self.writable:
            self._write(path, key.hex().encode("ascii") + b"\n")
        return key

    def load_public(self, instance, cred_id):
        return _public.load_public(self.root, instance, cred_id)

    def save_public(self, instance, cred_id, value):
        return _public.save_public(self.root, instance, cred_id, value)

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

    def _write(self, path, data):
        """Write DATA (bytes) to PATH atomically, 0600, creating the 0700 directories."""
        for directory in (self.root, os.path.dirname(path)):
            try:
                os.makedirs(directory, 0o700)
            except OSError as exc:
                if exc.errno != errno.EEXIST:
                    raise self._error("cannot create secret store directory %s: %s" % (directory, to_native(exc)))
        try:
            # The PID in the name lets a later run tell a dead run's leftover from a live one's.
            atomic_write(path, data, prefix=temp_prefix(path, os.getpid()))
        except OSError as exc:  # EROFS, ENOSPC, EDQUOT, EIO...
            raise self._error("cannot write secret store file %s: %s" % (path, to_native(exc)))
        return path

    def save(self, instance, cred_id, value):
        """Write VALUE (bytes) encrypted, atomically, replacing any previous file."""
        path = self.path(instance, cred_id)
        return self._write(path, self.backend.encrypt(path, value))

    def load_meta(self, instance, cred_id):
        """The metadata of a secret (a dict), or None when none is recorded or it is unreadable as such.

        A secret whose encrypted file exists without metadata gets ``created`` and ``rotated``
        from the encrypted file's modification time and ``estimated: true``.
        """
        meta = self.load_record(instance, cred_id)
        if meta is not None and parse_time(meta.get("rotated")) is not None:
            return meta
        return self._estimated_meta(instance, cred_id)

    def load_record(self, instance, cred_id):
        """The metadata file of CRED_ID as recorded (a dict), or None when there is none or it is not one.
        Nothing is estimated: a src credential (not stored here) has a record of its shape only."""
        path = self.path(instance, cred_id, META_SUFFIX)
        try:
            with open(path, "rb") as f:
                meta = json.loads(f.read().decode("utf-8"))
        except (IOError, OSError) as exc:
            if exc.errno != errno.ENOENT:
                raise self._error("cannot read secret store file %s: %s" % (path, to_native(exc)))
            return None
        except ValueError:  # not JSON: recorded anew, like a missing file
            return None
        return meta if isinstance(meta, dict) else None

    def _estimated_meta(self, instance, cred_id):
        try:
            mtime = os.stat(self.path(instance, cred_id)).st_mtime  # the encrypted file's
        except OSError:
            return None
        when = format_time(datetime.datetime.fromtimestamp(mtime, datetime.timezone.utc))
        return {"created": when, "rotated": when, "estimated": True}

    def save_meta(self, instance, cred_id, meta):
        """Record META (a dict of text, never a secret) beside the secret's encrypted file."""
        data = json.dumps(dict(meta, version=META_VERSION), sort_keys=True, indent=1) + "\n"
        return self._write(self.path(instance, cred_id, META_SUFFIX), data.encode("utf-8"))
