#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: microvm_credentials
short_description: Keep microVM secrets in the controller's vault and the host's systemd credential store
version_added: 0.1.0
description:
  - Validates O(instances) (the C(microvm_instances) inventory variable) on the controller, before
    anything changes anywhere.
  - Reads each credential's secret from the controller's ansible-vault encrypted store, generating and
    storing it there the first time only. Secrets are never regenerated implicitly; list them in
    O(rotate) to replace them.
  - Checks that every instance's credentials fit its hypervisor's SMBIOS OEM string limits.
  - Encrypts all credentials of the host with C(systemd-creds encrypt) into O(directory), in one
    module call per host, passing values on stdin only. A credential whose encrypted file already
    decrypts to the same value is left alone.
  - This is an action plugin with a module part that runs on the host.
author:
  - microvm.credentials maintainers (!UNKNOWN)
attributes:
  check_mode:
    support: full
    description: Nothing is generated into the store or written on the host; the result says what would change.
  diff_mode:
    support: full
    description: The diff names the credentials that change, never their values.
  action:
    support: full
    description: Runs on the controller for the vault store and on the host for systemd-creds.
requirements:
  - systemd-creds (systemd 250 or later) on the host.
  - passlib (or libpass) on the controller for C(passlib) generators.
  - A vault secret on the controller (C(--vault-password-file), C(--vault-id) or E(ANSIBLE_VAULT_PASSWORD_FILE)).
options:
  instances:
    description:
      - The microVM instances, as in the C(microvm_instances) variable. Only the C(credentials),
        C(oem_strings) and C(hypervisor) keys matter here, but all of it is validated.
    type: dict
    required: true
  store:
    description:
      - Directory on the controller that holds this host's vault encrypted secrets,
        one file C(INSTANCE/CREDENTIAL_ID.vault) per secret.
    type: path
    required: true
  rotate:
    description:
      - Secrets to generate anew, as C(INSTANCE/CREDENTIAL_ID), C(INSTANCE/*) or C(*).
      - Hashes generated from a rotated password are regenerated with it.
    type: list
    elements: str
    default: []
  directory:
    description: Host directory of the encrypted credential store.
    type: path
    default: /var/lib/microvm-credentials
  key:
    description: The C(--with-key) of C(systemd-creds encrypt).
    type: str
    choices: [auto, host, tpm2, host+tpm2]
    default: auto
  var_name:
    description: Name of the variable O(instances) came from, used in error messages.
    type: str
    default: microvm_instances
  credentials:
    description:
      - Internal. The credentials the action plugin hands to the host side; do not set.
      - Only O(credentials[].value) is secret; instance and credential names stay readable in the
        result (C(changed_instances), C(removed)).
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
      value:
        description: Base64 of the secret value.
        type: str
        required: true
  purge:
    description:
      - Remove stored credentials that are no longer configured, and all credentials of instances
        that are no longer in O(instances).
    type: bool
    default: true
notes:
  - Always use this module with C(no_log) (the roles do through C(microvm_secure_logging)).
  - The module's arguments carry the secrets, so its payload always travels on the connection's stdin
    (pipelining is forced, whatever C(pipelining) or E(ANSIBLE_KEEP_REMOTE_FILES) say) and is never
    written to a file, on the controller or the host. Connections that can pipeline (C(ssh), C(paramiko),
    C(local)) and C(containers.podman.podman) are supported; others, and become methods that cannot
    pipeline (C(su)), are refused before anything is generated.
seealso:
  - name: systemd-creds
    description: systemd-creds(1)
    link: https://www.freedesktop.org/software/systemd/man/systemd-creds.html
"""

EXAMPLES = r"""
- name: Generate, store and encrypt the microVM credentials of this host
  microvm.credentials.microvm_credentials:
    instances: "{{ microvm_instances }}"
    store: "{{ inventory_dir }}/.microvm-credentials/{{ inventory_hostname }}"
  no_log: true
  register: microvm_creds

- name: Rotate the database password of instance web
  microvm.credentials.microvm_credentials:
    instances: "{{ microvm_instances }}"
    store: "{{ inventory_dir }}/.microvm-credentials/{{ inventory_hostname }}"
    rotate: [web/db-password]
  no_log: true
"""

RETURN = r"""
changed_instances:
  description: Instances whose credentials changed on the host; restart these.
  returned: always
  type: list
  elements: str
  sample: [web]
generated:
  description: Secrets newly generated into the controller store, as C(INSTANCE/CREDENTIAL_ID).
  returned: always
  type: list
  elements: str
removed:
  description: Stale credentials removed from the host, as C(INSTANCE/NAME).
  returned: always
  type: list
  elements: str
fingerprints:
  description:
    - Size and SHA-256 of each injected credential, keyed C(INSTANCE/NAME), so tests and
      operators can compare what a guest saw without seeing a value.
  returned: always
  type: dict
  sample: {"web/db.password": {"size": 24, "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}}
"""

import base64
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.microvm.credentials.plugins.module_utils._credstore import (
    KEYS,
    cred_path,
    decrypt_argv,
    diff_lines,
    encrypt_argv,
    list_instances,
    list_names,
    plan,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            instances=dict(type="dict", required=True),  # configuration, never values
            store=dict(type="path", required=True),
            rotate=dict(type="list", elements="str", default=[]),
            directory=dict(type="path", default="/var/lib/microvm-credentials"),
            key=dict(type="str", choices=list(KEYS), default="auto"),
            var_name=dict(type="str", default="microvm_instances"),
            # Only the values are secret: a no_log on the whole list would also mask the
            # instance and credential names wherever they occur in the result, so that
            # changed_instances came back as VALUE_SPECIFIED_IN_NO_LOG_PARAMETER and
            # rotated instances were never restarted.
            credentials=dict(type="list", elements="dict", options=dict(
                instance=dict(type="str", required=True),
                name=dict(type="str", required=True),
                value=dict(type="str", required=True, no_log=True),
            )),
            purge=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    if module.params["credentials"] is None:
        module.fail_json(msg="run this module through its action plugin (microvm.credentials.microvm_credentials)")
    directory = module.params["directory"]
    systemd_creds = module.get_bin_path("systemd-creds", required=True)

    desired = dict((name, {}) for name in module.params["instances"])
    for cred in module.params["credentials"]:
        desired.setdefault(cred["instance"], {})[cred["name"]] = base64.b64decode(cred["value"])

    def read_current(instance, name):
        rc, out, dummy = module.run_command(decrypt_argv(systemd_creds, name, cred_path(directory, instance, name)),
                                            binary_data=True, encoding=None)
        return out if rc == 0 else None

    if module.params["purge"]:
        # Stale credentials, and all of those of instances no longer configured.
        existing = dict((instance, list_names(directory, instance)) for instance in set(desired) | set(list_instances(directory)))
    else:
        existing = dict((i, list_names(directory, i) & set(desired[i])) for i in desired)
    changes = plan(directory, desired, existing, read_current)
    changed = bool(changes["write"] or changes["remove"])
    result = dict(
        changed=changed,
        changed_instances=sorted(set(i for i, dummy in changes["write"] + changes["remove"])),
        removed=["%s/%s" % c for c in changes["remove"]],
    )
    if module._diff:
        result["diff"] = diff_lines(desired, changes)
    if module.check_mode or not changed:
        module.exit_json(**result)

    for path in [directory] + [os.path.join(directory, i) for i, dummy in changes["write"]]:
        if not os.path.isdir(path):
            os.makedirs(path, 0o700)
        os.chmod(path, 0o700)
    for instance, name in changes["write"]:
        dest = cred_path(directory, instance, name)
        fd, tmp = tempfile.mkstemp(prefix="." + name, suffix=".tmp", dir=os.path.dirname(dest))
        os.close(fd)
        try:
            rc, dummy, err = module.run_command(encrypt_argv(systemd_creds, name, tmp, module.params["key"]),
                                                data=desired[instance][name], binary_data=True)
            if rc != 0:
                module.fail_json(msg="systemd-creds encrypt failed for %s/%s: %s" % (instance, name, err.strip()), **result)
            os.chmod(tmp, 0o600)
            module.atomic_move(tmp, dest)
            os.chmod(dest, 0o600)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    for instance, name in changes["remove"]:
        os.unlink(cred_path(directory, instance, name))
    for instance in set(i for i, dummy in changes["remove"]) - set(desired):
        try:
            os.rmdir(os.path.join(directory, instance))
        except OSError:
            pass  # something else lives there: leave it
    module.exit_json(**result)


if __name__ == "__main__":
    main()
