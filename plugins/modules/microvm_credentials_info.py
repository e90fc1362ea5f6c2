#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: microvm_credentials_info
short_description: Audit microVM credentials in the controller store and on the host
version_added: 0.2.0
description:
  - Lists, for each instance and credential of this host, its generator, when it was created and last
    rotated, its age, a fingerprint, whether the host's encrypted credential holds the controller's
    value, and whether the running microVM started before the credential last changed (restart pending).
  - Never shows a value. The fingerprint of a key pair is that of its public half (C(ssh-keygen -l) style
    for SSH keys, the public key for WireGuard, the SHA-256 of a certificate). The fingerprint of any other
    secret is an HMAC keyed with a key derived from the vault password (PBKDF2), so it cannot be used to
    guess a short password without the vault password.
  - The host compares without seeing a value either. The controller draws a random key for the run and
    sends only HMAC-SHA256 digests under it (on stdin, like the secrets of M(microvm.credentials.microvm_credentials));
    the host decrypts each credential, computes the same digest and answers match or not, by the same rule
    by which M(microvm.credentials.microvm_credentials) decides to rewrite a credential.
  - Lists as orphaned what the controller store holds for instances and credentials that are no longer
    configured, with the paths a prune would remove (RV(prune)); and credentials the host still holds for
    them (C(host-only), kept there by C(microvm_purge=false)). Deleting them is the job of
    C(playbooks/audit.yml) with C(microvm_prune_store=true).
  - Without O(store), it reads the store the role uses for this host, its C(microvm_credentials_store) when
    set, otherwise the role's default C(INVENTORY_DIR/.microvm-credentials/HOST).
  - This is an action plugin. Its part on the host is the internal module
    C(microvm.credentials.microvm_credentials_info_host), which it calls with the host's view only (the
    credential directory, key, instance names, the run's HMAC key and the expected digests), never a
    controller path or a generator.
author:
  - microvm.credentials maintainers (!UNKNOWN)
attributes:
  check_mode:
    support: full
    description: Nothing changes, in any mode.
  diff_mode:
    support: N/A
    description: Nothing changes, so there is no diff.
  action:
    support: full
    description: Runs on the controller for the controller store and on the host for C(systemd-creds decrypt).
requirements:
  - systemd-creds (systemd 250 or later) and systemctl on the host.
  - A vault secret on the controller (C(--vault-password-file), C(--vault-id) or E(ANSIBLE_VAULT_PASSWORD_FILE)).
extends_documentation_fragment:
  - microvm.credentials.action_options
options:
  report_key:
    description:
      - Guest name of an injected credential that keys report digests, for example C(report.key).
      - Each injected credential of an instance that has this credential gets RV(credentials[].report_digest),
        its HMAC-SHA256 under that credential's value. A guest that holds the same key can print the same
        digest, and the two compare without a value or a plain digest leaving the store
        (C(playbooks/demo_report.yml) does so with the demo guest's report).
    type: str
notes:
  - Times are in seconds since the epoch. A stored secret's come from its metadata C(ID.meta) (for a store
    written before the metadata existed, from the modification time of C(ID.vault)); a public half's and a
    C(src) file's are the modification times of their files.
seealso:
  - module: microvm.credentials.microvm_credentials
  - plugin: microvm.credentials.public
    plugin_type: lookup
"""

EXAMPLES = r"""
- name: Audit the microVM credentials of this host
  microvm.credentials.microvm_credentials_info:
    instances: "{{ microvm_instances }}"
    store: "{{ microvm_credentials_store }}"
    credential_directory: "{{ microvm_credential_directory }}"
    key: "{{ microvm_credential_key }}"
  register: audit

- name: Show it as a table
  ansible.builtin.debug:
    msg: "{{ audit.table }}"

- name: Fail when a host holds other values than the controller
  ansible.builtin.assert:
    that: audit.credentials | selectattr('host', 'in', ['differs', 'missing', 'rekey']) | list | length == 0
"""

RETURN = r"""
not_current:
  description:
    - Stored secrets whose files are not encrypted to whom the configuration wants now (other sops recipients,
      another vault id). C(microvm_credentials_rekey=true) re-encrypts them.
  returned: success
  type: list
  elements: dict
  version_added: 0.2.0
  contains:
    label:
      description: C(INSTANCE/CREDENTIAL_ID) or C(shared:NAME).
      type: str
    path:
      description: The file.
      type: str
    recipients:
      description: Who can open it now.
      type: list
      elements: str
    wanted:
      description: Who should.
      type: list
      elements: str
credentials:
  description: One entry per credential, configured or orphaned, sorted by instance and id.
  returned: success
  type: list
  elements: dict
  contains:
    instance:
      description: Instance name.
      type: str
    id:
      description: Credential id (the vault file's name); null for a credential only the host holds.
      type: str
    name:
      description: Credential name in the guest; null when it is not injected.
      type: str
    generator:
      description: The generator type, C(src), C(public) (a public half given with C(inject_public)), or null when orphaned.
      type: str
    created:
      description: When the stored value was created, seconds since the epoch; null when it is not stored.
      type: float
    rotated:
      description: When the stored value last changed, seconds since the epoch; null when it is not stored.
      type: float
    age_days:
      description: Days since RV(credentials[].rotated).
      type: float
    fingerprint:
      description: The fingerprint, never the value; null when the controller store does not hold it.
      type: str
      sample: SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s
    report_digest:
      description:
        - HMAC-SHA256 (hex) of the injected value under the instance's O(report_key) credential; null without
          O(report_key), for the key itself, for a credential that is not injected or not stored, and when the
          instance has no such credential.
      type: str
    host:
      description:
        - C(in-sync), C(differs), C(missing), C(rekey) (sealed with another key), C(not-injected) (C(inject=false)),
          C(host-only) (the host holds it, the configuration does not), C(absent) (orphaned, and not on the host),
          or C(not-stored) (not generated yet).
      type: str
    restart_pending:
      description: The instance runs, and became active before the host's credential file was last written.
      type: bool
    orphaned:
      description: Stored or held for an instance or credential that is no longer configured.
      type: bool
  sample:
    - {instance: web, id: db-password, name: db.password, generator: password, created: 1764250000.1,
       rotated: 1764250000.1, age_days: 3.2, fingerprint: "hmac:4e1f0c6a2b9d8e73", report_digest: null, host: in-sync,
       restart_pending: false, orphaned: false}
units:
  description: State of each instance's C(microvm@NAME.service), as systemd reports it.
  returned: success
  type: dict
  sample: {web: {active_state: active, unit_file_state: enabled, active_since: 1764250100.25}}
orphaned:
  description: Orphaned controller store entries, as C(INSTANCE/ID) (C(INSTANCE/*) for a whole instance).
  returned: success
  type: list
  elements: str
prune:
  description: Controller paths that C(microvm_prune_store=true) removes, files first, then emptied directories.
  returned: success
  type: list
  elements: str
table:
  description: The audit as lines of a table, for C(ansible.builtin.debug).
  returned: success
  type: list
  elements: str
directory_state:
  description: The host credential directory, C(managed), C(empty), C(absent), C(foreign) or C(not-a-directory).
  returned: success
  type: str
"""
