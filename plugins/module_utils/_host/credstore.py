# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Host credential store: systemd-creds encrypted files, one per credential.

Layout: ``DIRECTORY/INSTANCE/NAME.cred`` (0600, directories 0700), loaded by
``LoadCredentialEncrypted=NAME:DIRECTORY/INSTANCE/NAME.cred``. Values reach
systemd-creds on stdin only, never in argv or the environment.

Ownership: ``DIRECTORY/.microvm-credentials.json`` (the manifest, 0600) lists
every instance directory and ``.cred`` file the collection made, with the key
each was sealed with. Only what it lists is ever rewritten or removed; a
directory that exists without a manifest is taken over only when empty.

What each file was made from: the manifest records, per ``.cred``, the token the
controller sent with its value (a keyed digest of the encrypted source in the
controller's store, never of the value) and the SHA-256 of the ``.cred`` file as
written. A converge compares tokens and file digests only: nothing is decrypted,
and the controller sends a value only for a credential that is missing, made from
another source, sealed with another key, or whose file was changed on the host.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os
import re

# atomic_write: the host module writes each .cred with it, through this module.
from .._fs import atomic_write

KEYS = ("auto", "host", "tpm2", "host+tpm2")
TPM2_KEYS = ("tpm2", "host+tpm2")
# The host's view of its store, which both internal host modules take (doc fragment host_store).
HOST_STORE_SPEC = dict(
    credential_directory=dict(type="str", required=True),
    key=dict(type="str", choices=list(KEYS), default="auto"),
    _instances=dict(type="list", elements="str", required=True),
)
SUFFIX = ".cred"
MANIFEST = ".microvm-credentials.json"
MANIFEST_VERSION = 2
VARIABLE = "microvm_credential_directory"
# _fs.atomic_write's temporary file "." + BASENAME + "." + 8 random characters from
# tempfile's alphabet + ".tmp". Anything else in the store is never swept.
TEMP_RE = re.compile(r"\A\.(?:[^/]+\.cred|microvm-credentials\.json)\.[a-z0-9_]{8}\.tmp\Z")
# The temporary file "." + NAME + ".cred." + 8 random characters + ".tmp", not NAME.cred,
# is the longest file name the store holds: the controller bounds NAME and DIRECTORY by it.
TEMP_EXTRA = len(".") + len(SUFFIX) + len(".") + 8 + len(".tmp")
FILE_NAME_MAX = 255  # bytes of one path component (Linux NAME_MAX)


class CredStoreError(Exception):
    pass


def cred_path(directory, instance, name):
    return os.path.join(directory, instance, name + SUFFIX)


def cred_written(directory, instance, name):
    """When the host's credential file was last written (seconds since the epoch), None without one."""
    try:
        return os.stat(cred_path(directory, instance, name)).st_mtime
    except OSError:
        return None


def encrypt_argv(systemd_creds, name, key, not_after=None):
    # '- -': plaintext on stdin, the sealed blob on stdout, so that the module itself
    # creates the file (mode 0600, a name it can recognise and sweep).
    # --name binds the blob to the credential id so systemd refuses it under another name;
    # --not-after (a time, e.g. @SECONDS) makes systemd refuse it after then.
    extra = ["--not-after=" + not_after] if not_after else []
    return [systemd_creds, "encrypt", "--name=" + name, "--with-key=" + key] + extra + ["-", "-"]


def file_sha256(path):
    """SHA-256 (hex) of the file PATH (an encrypted credential), None when it cannot be read."""
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except (IOError, OSError):
        return None


# -- ownership -----------------------------------------------------------------

def first_foreign(directory):
    """A path inside DIRECTORY, preferring a file, or None when it is empty."""
    for root, dirs, files in os.walk(directory):
        if files:
            return os.path.join(root, sorted(files)[0])
        if root == directory and not dirs:
            return None
    entries = sorted(os.listdir(directory))
    return os.path.join(directory, entries[0]) if entries else None


def directory_state(directory):
    """(STATE, EXAMPLE): absent, managed, empty, foreign (EXAMPLE: one foreign path) or not-a-directory."""
    if os.path.isfile(os.path.join(directory, MANIFEST)):
        return "managed", None
    if os.path.isdir(directory):
        example = first_foreign(directory)
        return ("foreign", example) if example else ("empty", None)
    if os.path.lexists(directory):
        return "not-a-directory", None
    return "absent", None


# directory_state() in shell, for the controller's probe of the host (_actions/host_probe.py),
# which runs before anything is generated or written, with no module on the host yet.
# {d}: the shell-quoted directory; {manifest}: MANIFEST, shell-quoted; p TAG NAME STATUS VALUE
# prints one answer. The states are the same (tests/unit/.../test_credstore.py runs both);
# the example may be another foreign path. A file is the clearer example; an empty
# subdirectory will do.
DIRECTORY_STATE_SH = """d={d}
if [ -f "$d"/{manifest} ]; then p directory "$d" managed ''
elif [ -d "$d" ]; then
  f=$({{ find "$d" -mindepth 1 ! -type d -print -quit; find "$d" -mindepth 1 -maxdepth 1 -print -quit; }} 2>/dev/null | head -n 1)
  if [ -n "$f" ]; then p directory "$d" foreign "$f"; else p directory "$d" empty ''; fi
elif [ -e "$d" ] || [ -L "$d" ]; then p directory "$d" not-a-directory ''
else p directory "$d" absent ''
fi
"""


def ownership_error(directory, state, example):
    """The error for a credential directory the collection must not use, or None."""
    if state == "foreign":
        return ("%s: %s holds files this collection did not create (for example %s) and no manifest (%s); "
                "choose a new or empty directory" % (VARIABLE, directory, example, MANIFEST))
    if state == "not-a-directory":
        return "%s: %s exists and is not a directory" % (VARIABLE, directory)
    return None


def new_manifest(directory_created):
    """DIRECTORY_CREATED: the collection made the directory, so it may also fix its mode."""
    return {"version": MANIFEST_VERSION, "directory_created": directory_created, "instances": {}}


def _well_formed(manifest):
    if not isinstance(manifest, dict) or manifest.get("version") not in (1, MANIFEST_VERSION):
        return False
    instances = manifest.get("instances")
    return isinstance(manifest.get("directory_created"), bool) and isinstance(instances, dict) and all(
        isinstance(names, dict) for names in instances.values())


def entry(key=None, token=None, sha256=None):
    """What the manifest records of one .cred file: the key it was sealed with, the controller's
    token of its source and the file's digest (None: unknown, so the next converge rewrites it)."""
    return {"key": key, "token": token, "sha256": sha256}


def _upgraded(manifest):
    """Version 1 recorded only the key: its files are rewritten once, at the next converge."""
    if manifest["version"] == MANIFEST_VERSION:
        return manifest
    instances = dict((i, dict((n, entry(k if isinstance(k, str) else None)) for n, k in names.items()))
                     for i, names in manifest["instances"].items())
    return dict(manifest, version=MANIFEST_VERSION, instances=instances)


def load_manifest(directory):
    path = os.path.join(directory, MANIFEST)
    try:
        with open(path) as f:
            manifest = json.load(f)
    except (OSError, IOError, ValueError) as exc:
        raise CredStoreError("%s: cannot read the manifest %s: %s" % (VARIABLE, path, exc))
    if not _well_formed(manifest):
        raise CredStoreError("%s: the manifest %s is not one this collection wrote" % (VARIABLE, path))
    return _upgraded(manifest)


def dump_manifest(manifest):
    return (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode("utf-8")


def foreign_targets(directory, owned, writes):
    """Paths the writes would replace although the manifest does not list them."""
    found = []
    for instance, name in writes:
        if instance not in owned:
            path = os.path.join(directory, instance)
        elif name not in owned[instance]:
            path = cred_path(directory, instance, name)
        else:
            continue
        if os.path.lexists(path) and path not in found:
            found.append(path)
    return found


# -- what to change ------------------------------------------------------------

def plan(desired, owned, key, current_sha256):
    """Work out what has to change, without decrypting anything.

    DESIRED maps instance -> {name: token}. OWNED maps instance -> {name: entry()}, from
    the manifest; instances there but not in DESIRED lose all their credentials. A
    credential is (re)written when it is not owned yet, was sealed with another KEY, was
    made from another token, or its file's digest CURRENT_SHA256(instance, name) (None:
    no file) is not the recorded one (deleted, replaced or changed on the host).
    Returns dict(write=[(instance, name)], rekey=[...], remove=[...], tampered=[...]),
    sorted; rekey and tampered are the parts of write due to a key change or a changed file.
    """
    write, rekey, remove, tampered = [], [], [], []
    for instance in sorted(set(desired) | set(owned)):
        present = owned.get(instance, {})
        wanted = desired.get(instance, {})
        for name in sorted(wanted):
            item = (instance, name)
            if name not in present:
                write.append(item)
                continue
            got = present[name]
            if got["key"] != key:
                rekey.append(item)
            elif got["sha256"] is None or current_sha256(instance, name) != got["sha256"]:
                tampered.append(item)
            elif got["token"] == wanted[name]:
                continue
            write.append(item)
        for name in sorted(set(present) - set(wanted)):
            remove.append((instance, name))
    return {"write": write, "rekey": rekey, "remove": remove, "tampered": tampered}


def manifest_before(manifest, changes):
    """The manifest to save before writing: every file about to be written is listed
    (owned) with an unknown key, so an interrupted run leaves nothing unowned and the
    next run rewrites it."""
    out = json.loads(json.dumps(manifest))
    for instance, name in changes["write"]:
        out["instances"].setdefault(instance, {})[name] = entry()
    return out


def manifest_after(manifest, changes, key, removed_dirs, tokens, written):
    """The manifest once the writes and removals are done: TOKENS {(instance, name): token} of what was
    written, WRITTEN {(instance, name): sha256 of the new file}."""
    out = json.loads(json.dumps(manifest))
    for instance, name in changes["write"]:
        out["instances"].setdefault(instance, {})[name] = entry(key, tokens[(instance, name)], written[(instance, name)])
    for instance, name in changes["remove"]:
        out["instances"].get(instance, {}).pop(name, None)
    for instance in removed_dirs:
        out["instances"].pop(instance, None)
    return out


def stale_temp_files(directory, instances):
    """Temporary files of interrupted runs in the store's own directories."""
    found = []
    for path in [directory] + [os.path.join(directory, i) for i in sorted(instances)]:
        try:
            entries = sorted(os.listdir(path))
        except OSError:
            continue
        found.extend(os.path.join(path, e) for e in entries if TEMP_RE.match(e) and os.path.isfile(os.path.join(path, e)))
    return found


def diff_lines(desired, changes, key):
    """A diff that names credentials and never shows a value."""
    before, after = [], []
    writes, removes, rekeys = set(changes["write"]), set(changes["remove"]), set(changes["rekey"])
    for instance in sorted(set(desired) | set(i for i, n in removes)):
        for name in sorted(set(desired.get(instance, {})) | set(n for i, n in removes if i == instance)):
            item = (instance, name)
            label = "%s/%s" % (instance, name)
            if item in removes:
                before.append(label + ": present\n")
            elif item in rekeys:
                before.append(label + ": sealed with another key\n")
                after.append(label + ": sealed with key %s\n" % key)
            elif item in writes:
                before.append(label + ": absent, changed on the host, or of another value\n")
                after.append(label + ": encrypted (new value)\n")
            else:
                before.append(label + ": unchanged\n")
                after.append(label + ": unchanged\n")
    return {"before": "".join(before), "after": "".join(after),
            "before_header": "credential store", "after_header": "credential store"}


# -- file system ---------------------------------------------------------------

def make_directory(directory):
    """Create DIRECTORY 0700 and its missing parents 0755 (whatever the umask).

    Parents are ordinary path components other software may have to traverse; they hold
    nothing secret and are never removed. Only DIRECTORY itself is the collection's.
    """
    missing = []
    path = directory
    while not os.path.lexists(path):
        missing.append(path)
        path = os.path.dirname(path)
    for path in reversed(missing):
        mode = 0o700 if path == directory else 0o755
        os.mkdir(path, mode)
        os.chmod(path, mode)


def save_manifest(directory, manifest):
    atomic_write(os.path.join(directory, MANIFEST), dump_manifest(manifest))


def remove_owned(directory, changes, desired):
    """Remove the listed files, then the emptied directories of instances no longer configured.

    Returns the instance directories removed; one that still holds something is kept.
    """
    for instance, name in changes["remove"]:
        try:
            os.unlink(cred_path(directory, instance, name))
        except OSError:
            if os.path.lexists(cred_path(directory, instance, name)):
                raise
    removed = []
    for instance in sorted(set(i for i, dummy in changes["remove"]) - set(desired)):
        try:
            os.rmdir(os.path.join(directory, instance))
            removed.append(instance)
        except OSError:
            pass  # something the collection did not create lives there: leave it
    return removed
