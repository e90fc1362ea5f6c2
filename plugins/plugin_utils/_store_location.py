# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Where a host's controller store is, for lookups that run outside the role."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible.errors import AnsibleLookupError

from ansible_collections.microvm.credentials.plugins.plugin_utils._vault_store import resolve_store_path

STORE_DIR = ".microvm-credentials"


def split_term(term):
    """Return (instance, credential id) of a lookup term ``INSTANCE/CREDENTIAL_ID``."""
    parts = term.split("/") if isinstance(term, str) else []
    if len(parts) != 2 or not all(parts) or any(p in (".", "..") for p in parts):
        raise AnsibleLookupError("term %r: must be INSTANCE/CREDENTIAL_ID" % (term,))
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
