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
short_description: Audit microVM credentials in the controller's vault store and on the host
version_added: 0.1.0
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
  - This is an action plugin with a module part that runs on the host.
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
    description: Runs on the controller for the vault store and on the host for C(systemd-creds decrypt).
requirements:
  - systemd-creds (systemd 250 or later) and systemctl on the host.
  - A vault secret on the controller (C(--vault-password-file), C(--vault-id) or E(ANSIBLE_VAULT_PASSWORD_FILE)).
options:
  instances:
    description: The microVM instances, as in the C(microvm_instances) variable; validated as the role validates them.
    type: dict
    required: true
  store:
    description:
      - Directory on the controller that holds this host's vault encrypted secrets, as for
        M(microvm.credentials.microvm_credentials). A relative path is resolved against the inventory directory.
      - Defaults to the host's C(microvm_credentials_store) when it is set, otherwise the role's default
        C(INVENTORY_DIR/.microvm-credentials/HOST).
    type: path
  directory:
    description: Host directory of the encrypted credential store (C(microvm_credential_directory)).
    type: path
    default: /var/lib/microvm-credentials
  key:
    description: The C(--with-key) the credentials should be sealed with (C(microvm_credential_key)).
    type: str
    choices: [auto, host, tpm2, host+tpm2]
    default: auto
  var_name:
    description: Name of the variable O(instances) came from, used in error messages.
    type: str
    default: microvm_instances
  store_var_name:
    description: Name of the variable O(store) came from, used in error messages.
    type: str
    default: microvm_credentials_store
  hmac_key:
    description: Internal. The run's random HMAC key, hex; set by the action plugin, do not set.
    type: str
  expected:
    description: Internal. The digests the action plugin hands to the host side; do not set.
    type: list
    elements: dict
    suboptions:
      instance:
        description: Instance name.
        type: str
        required: true
      name:
        description: Credential name in the guest.
        type: str
        required: true
      digest:
        description: HMAC-SHA256 of the value under O(hmac_key), hex.
        type: str
        required: true
notes:
  - Times are the modification times of the files in the controller store (C(ID.vault), C(ID.pub), or the
    C(src) file), in seconds since the epoch; the creation time is the same until the store records it.
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
    directory: "{{ microvm_credential_directory }}"
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
       rotated: 1764250000.1, age_days: 3.2, fingerprint: "hmac:4e1f0c6a2b9d8e73", host: in-sync,
       restart_pending: false, orphaned: false}
units:
  description: State of each instance's C(microvm@NAME.service), as systemd reports it.
  returned: success
  type: dict
  sample: {web: {active_state: active, active_since: 1764250100.25}}
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

import binascii
import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native
from ansible_collections.microvm.credentials.plugins.module_utils._credaudit import (
    compare,
    digest,
    parse_units,
    restart_pending,
    systemctl_show_argv,
    unit_name,
)
from ansible_collections.microvm.credentials.plugins.module_utils._credstore import (
    KEYS,
    CredStoreError,
    cred_path,
    decrypt_argv,
    directory_state,
    load_manifest,
)


def mtime(path):
    try:
        return os.stat(path).st_mtime
    except OSError:
        return None


def main():
    module = AnsibleModule(
        argument_spec=dict(
            instances=dict(type="dict", required=True),
            store=dict(type="path"),
            directory=dict(type="path", default="/var/lib/microvm-credentials"),
            key=dict(type="str", choices=list(KEYS), default="auto"),
            var_name=dict(type="str", default="microvm_instances"),
            store_var_name=dict(type="str", default="microvm_credentials_store"),
            hmac_key=dict(type="str", no_log=True),
            expected=dict(type="list", elements="dict", options=dict(
                instance=dict(type="str", required=True),
                name=dict(type="str", required=True),
                digest=dict(type="str", required=True, no_log=True),
            )),
        ),
        supports_check_mode=True,
    )
    if module.params["expected"] is None or module.params["hmac_key"] is None:
        module.fail_json(msg="run this module through its action plugin (microvm.credentials.microvm_credentials_info)")
    directory, key = module.params["directory"], module.params["key"]
    hmac_key = binascii.unhexlify(module.params["hmac_key"])
    systemd_creds = module.get_bin_path("systemd-creds", required=True)
    systemctl = module.get_bin_path("systemctl", required=True)

    expected = dict((name, {}) for name in module.params["instances"])
    for cred in module.params["expected"]:
        expected.setdefault(cred["instance"], {})[cred["name"]] = cred["digest"]

    state, dummy = directory_state(directory)
    owned = {}
    if state == "managed":
        try:
            owned = load_manifest(directory)["instances"]
        except CredStoreError as exc:
            module.fail_json(msg=to_native(exc))

    def current_digest(instance, name):
        rc, out, dummy = module.run_command(decrypt_argv(systemd_creds, name, cred_path(directory, instance, name)),
                                            binary_data=True, encoding=None)
        return digest(hmac_key, out) if rc == 0 else None

    states = compare(expected, owned, key, current_digest)
    instances = sorted(set(expected) | set(owned))
    units = {}
    if instances:  # without units, systemctl show would describe the manager
        rc, out, err = module.run_command(systemctl_show_argv(systemctl, instances))
        if rc != 0:
            module.fail_json(msg="systemctl show failed: %s" % to_native(err).strip())
        units = parse_units(out)
    by_instance = dict((i, units.get(unit_name(i))) for i in instances)
    credentials = []
    for (instance, name), cred_state in sorted(states.items()):
        written = mtime(cred_path(directory, instance, name)) if cred_state != "missing" else None
        credentials.append(dict(instance=instance, name=name, host=cred_state,
                                restart_pending=restart_pending(by_instance[instance], written)))
    module.exit_json(changed=False, credentials=credentials, units=by_instance, directory_state=state)


if __name__ == "__main__":
    main()
