# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Where a secret lives: the one home of store locations.

A host's secrets live in its store, ``STORE/INSTANCE/ID.*``; shared secrets (``scope:
shared``) in one store for all hosts, ``SHARED_STORE/NAME.*``, named in lookup terms,
reports and microvm_rotate as ``shared:NAME``. The credentials action, the audit, prune
and the lookups all find a credential's files through slot_of() and the store paths
through store_of() / shared_store_of().
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible.errors import AnsibleLookupError

from ansible_collections.microvm.credentials.plugins.plugin_utils._store.store import resolve_store_path

STORE_DIR = ".microvm-credentials"
SHARED_STORE_DIR = ".microvm-credentials-shared"
SHARED_STORE_VAR = "microvm_credentials_shared_store"
SHARED_PREFIX = "shared:"
_SHARED_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")


class Slot:
    """Where one secret lives: STORE, its DIRECTORY (the instance; None for a shared secret) and NAME.

    LABEL names it in microvm_rotate and in reports: INSTANCE/CREDENTIAL_ID or shared:NAME.
    """

    def __init__(self, store, directory, name, label):
        self.store, self.directory, self.name, self.label = store, directory, name, label

    def load(self):
        return self.store.load(self.directory, self.name)

    def exists(self):
        return self.store.exists(self.directory, self.name)

    def token(self):
        return self.store.token(self.directory, self.name)

    def load_public(self):
        return self.store.load_public(self.directory, self.name)

    def load_meta(self):
        return self.store.load_meta(self.directory, self.name)

    def load_record(self):
        return self.store.load_record(self.directory, self.name)


def label_of(instance, cred):
    """How microvm_rotate and reports name the secret of CRED: INSTANCE/CREDENTIAL_ID or shared:NAME."""
    if cred.get("scope") == "shared":
        return "shared:" + cred["shared_name"]
    return "%s/%s" % (instance, cred["id"])


def is_public(cred):
    """True if CRED is made of public halves and keys from the vars: nothing of it is in the store."""
    return "public_of" in cred or "authorized_keys" in cred


def secret_labels(instances):
    """The labels of the stored secrets (src included) of the normalised INSTANCES, each once."""
    return sorted(set(label_of(i["name"], c) for i in instances for c in i["credentials"] if not is_public(c)))


def src_labels(instances):
    """The labels of the src credentials of the normalised INSTANCES."""
    return sorted(set(label_of(i["name"], c) for i in instances for c in i["credentials"] if "src" in c))


def uses_shared(instances):
    """True if a credential of the normalised INSTANCES has scope shared."""
    return any(c.get("scope") == "shared" for i in instances for c in i["credentials"])


def slot_of(store, shared_store, instance, cred):
    """The Slot of the normalised credential CRED of INSTANCE: in SHARED_STORE when it is shared."""
    if cred.get("scope") == "shared":
        return Slot(shared_store, None, cred["shared_name"], label_of(instance, cred))
    return Slot(store, instance, cred["id"], label_of(instance, cred))


def split_term(term):
    """Return (instance, credential id) of a lookup term ``INSTANCE/CREDENTIAL_ID``, or
    (None, NAME) of ``shared:NAME``."""
    if isinstance(term, str) and term.startswith(SHARED_PREFIX):
        name = term[len(SHARED_PREFIX):]
        if not _SHARED_NAME_RE.fullmatch(name):
            raise AnsibleLookupError("term %r: must be shared:NAME, NAME of [A-Za-z0-9._-] not starting with '.' or '-'" % (term,))
        return None, name
    parts = term.split("/") if isinstance(term, str) else []
    if len(parts) != 2 or not all(parts) or any(p in (".", "..") for p in parts):
        raise AnsibleLookupError("term %r: must be INSTANCE/CREDENTIAL_ID or shared:NAME" % (term,))
    return parts[0], parts[1]


def store_of(variables, templar, store=None, host=None):
    """Return STORE if set, else the store directory of HOST as the role computes it.

    The host's ``microvm_credentials_store`` when it is set, otherwise the role's
    default ``INVENTORY_DIR/.microvm-credentials/HOST``. HOST defaults to the
    current host. A relative store is taken relative to the inventory directory,
    as the role takes it.
    """
    if store:
        return resolve_store_path(store, variables.get("inventory_dir") or variables.get("playbook_dir"))
    host = host or variables.get("inventory_hostname")
    hostvars = variables.get("hostvars") or {}
    if host not in hostvars:
        raise AnsibleLookupError("host %r is not in the inventory" % (host,))
    host_vars = hostvars[host]
    base = host_vars.get("inventory_dir") or variables.get("playbook_dir")
    if "microvm_credentials_store" in host_vars:
        return resolve_store_path(templar.template(host_vars["microvm_credentials_store"]), base)
    if not base:
        raise AnsibleLookupError("host %r: no inventory_dir to find its store in; set the store option" % (host,))
    return os.path.join(base, STORE_DIR, host)


def shared_store_of(variables, templar, shared_store=None, host=None):
    """Return SHARED_STORE if set, else the shared store as the role computes it for HOST:
    its ``microvm_credentials_shared_store``, else ``INVENTORY_DIR/.microvm-credentials-shared``."""
    if shared_store:
        return resolve_store_path(shared_store, variables.get("inventory_dir") or variables.get("playbook_dir"))
    host = host or variables.get("inventory_hostname")
    host_vars = (variables.get("hostvars") or {}).get(host)
    if host_vars is None:
        raise AnsibleLookupError("host %r is not in the inventory" % (host,))
    base = host_vars.get("inventory_dir") or variables.get("playbook_dir")
    if SHARED_STORE_VAR in host_vars:
        return resolve_store_path(templar.template(host_vars[SHARED_STORE_VAR]), base)
    if not base:
        raise AnsibleLookupError("host %r: no inventory_dir to find the shared store in; set the shared_store option" % (host,))
    return os.path.join(base, SHARED_STORE_DIR)


def host_var(variables, templar, name, default=None, host=None):
    """The (templated) variable NAME of HOST (default: the current host), or DEFAULT."""
    host = host or variables.get("inventory_hostname")
    host_vars = (variables.get("hostvars") or {}).get(host) or {}
    if name in host_vars:
        return templar.template(host_vars[name])
    return variables.get(name, default) if host == variables.get("inventory_hostname") else default


def location_of(term, variables, templar, options):
    """Return (store root, instance or None, name) of a lookup TERM; OPTIONS(name) reads the lookup's options."""
    instance, name = split_term(term)
    if instance is None:
        return shared_store_of(variables, templar, options("shared_store"), options("host")), None, name
    return store_of(variables, templar, options("store"), options("host")), instance, name
