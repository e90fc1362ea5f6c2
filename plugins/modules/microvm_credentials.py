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
    decrypts to the same value, and was sealed with the same O(key), is left alone; a changed O(key)
    re-encrypts every credential.
  - Ownership. The manifest C(DIRECTORY/.microvm-credentials.json) (0600) lists the instance directories
    and C(.cred) files the module created, with the key each was sealed with; only those are ever
    rewritten or removed. A missing O(directory) is created 0700 (missing parents 0755). An existing one
    without a manifest is used only if it is empty, and its mode is left as it is; one that holds anything
    else is refused before any change.
  - Temporary files of interrupted runs (C(.NAME.cred.XXXXXXXX.tmp)) in the module's own directories are
    removed on the next run (not in check mode) and listed in C(swept).
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
  - libpass (which provides the C(passlib) module) on the controller for C(passlib) generators, and the
    Python package C(bcrypt) for the C(bcrypt) scheme.
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
      - A relative path is resolved against the inventory directory (C(inventory_dir)), or the
        playbook directory when the host has no inventory directory; never against the current
        directory.
      - Runs that use the same store take turns, see O(lock_timeout).
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
    description:
      - Host directory of the encrypted credential store.
      - An absolute, normalised path of letters, digits and C(/_.@+:=-) (it appears unescaped in
        C(LoadCredentialEncrypted=)). Every C(DIRECTORY/INSTANCE/.NAME.cred.XXXXXXXX.tmp) must fit
        in 4095 bytes.
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
  store_var_name:
    description: Name of the variable O(store) came from, used in error messages.
    type: str
    default: microvm_credentials_store
  rotate_var_name:
    description: Name of the variable O(rotate) came from, used in error messages.
    type: str
    default: microvm_rotate
  directory_var_name:
    description: Name of the variable O(directory) came from, used in error messages.
    type: str
    default: microvm_credential_directory
  key_var_name:
    description: Name of the variable O(key) came from, used in error messages.
    type: str
    default: microvm_credential_key
  lock_timeout:
    description:
      - Seconds to wait for another run that holds the lock of the same O(store).
      - The lock is C(flock) on the file C(.NAME.lock) next to the store directory C(NAME) (mode
        0600), held from the first read of the store until the host has answered, so two runs
        never both generate a secret. When the time is up, the task fails and names the lock file.
    type: int
    default: 300
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
rekeyed:
  description: Credentials re-encrypted on the host because O(key) changed, as C(INSTANCE/NAME).
  returned: always
  type: list
  elements: str
swept:
  description: Temporary files of interrupted runs removed from the host (in check mode, to be removed).
  returned: always
  type: list
  elements: str
host_probe:
  description:
    - What the host reported before anything was generated or written (see C(plugin_utils/_host_probe.py)).
    - C(hypervisors) maps each hypervisor binary used to its kind and the first line of its C(--version),
      null when the binary is missing.
  returned: always
  type: dict
  sample: {"tpm2": {"rc": 11, "answer": "partial", "usable": false}, "systemd_creds": "systemd 252 (252.38-1~deb12u1)",
           "hypervisors": {"qemu-system-x86_64": {"hypervisor": "qemu", "version": "QEMU emulator version 7.2.15"}},
           "directory": {"path": "/var/lib/microvm-credentials", "state": "managed", "example": null}}
missing_hypervisors:
  description: Hypervisors of which a binary the instances use is missing on the host (the role installs only their packages).
  returned: always
  type: list
  elements: str
  sample: ["qemu"]
fingerprints:
  description:
    - Size and SHA-256 of each injected credential, keyed C(INSTANCE/NAME), so tests and
      operators can compare what a guest saw without seeing a value.
  returned: always
  type: dict
  sample: {"web/db.password": {"size": 24, "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}}
public:
  description:
    - Public halves of key-pair credentials (C(ssh), C(wireguard), C(tls), C(ca), C(command) with C(public_output)),
      keyed C(INSTANCE/CREDENTIAL_ID), also stored beside the vault files as C(CREDENTIAL_ID.pub).
    - Not secret; the role sets them as the fact C(microvm_public).
  returned: success
  type: dict
  sample: {"web/ssh-host-key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ9p0kq9z3m8x5o8sG4Jr1h4c2b0n3Yk7W1qXo9eFf2a root@web"}
"""

import base64
import fcntl
import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native
from ansible_collections.microvm.credentials.plugins.module_utils._credstore import (
    KEYS,
    MANIFEST,
    VARIABLE,
    CredStoreError,
    atomic_write,
    cred_path,
    decrypt_argv,
    diff_lines,
    directory_state,
    encrypt_argv,
    foreign_targets,
    load_manifest,
    make_directory,
    manifest_after,
    manifest_before,
    new_manifest,
    ownership_error,
    plan,
    remove_owned,
    save_manifest,
    stale_temp_files,
)


def lock(directory, check_mode):
    """Serialise runs on one host: the sweep must never see another run's temporary file.

    The descriptor stays open, and the lock held, until the module process exits.
    """
    fcntl.flock(os.open(directory, os.O_RDONLY), fcntl.LOCK_SH if check_mode else fcntl.LOCK_EX)


def open_store(module, directory):
    """The manifest of DIRECTORY, locked if it exists. Fails before any change on a directory the collection does not own."""
    state, example = directory_state(directory)
    error = ownership_error(directory, state, example)
    if error:
        module.fail_json(msg=error)
    if state == "absent":
        return new_manifest(directory_created=True)
    lock(directory, module.check_mode)
    if state == "empty":
        return new_manifest(directory_created=False)
    try:
        return load_manifest(directory)
    except CredStoreError as exc:
        module.fail_json(msg=to_native(exc))


def needs_chmod(directory, manifest):
    """Only a directory the collection created has its mode put back; others are never chmodded."""
    return manifest["directory_created"] and os.path.isdir(directory) and os.stat(directory).st_mode & 0o7777 != 0o700


def seal(module, systemd_creds, directory, instance, name, value, key):
    rc, blob, err = module.run_command(encrypt_argv(systemd_creds, name, key), data=value, binary_data=True, encoding=None)
    if rc != 0:
        module.fail_json(msg="systemd-creds encrypt failed for %s/%s: %s" % (instance, name, to_native(err).strip()))
    atomic_write(cred_path(directory, instance, name), blob)


def apply(module, systemd_creds, directory, manifest, changes, desired, key):
    """Write and remove, with the manifest listing every file before it exists."""
    if not os.path.isdir(directory):
        make_directory(directory)
        lock(directory, False)
    elif needs_chmod(directory, manifest):
        os.chmod(directory, 0o700)
    if changes["write"]:
        save_manifest(directory, manifest_before(manifest, changes))
    for instance in sorted(set(i for i, dummy in changes["write"])):
        path = os.path.join(directory, instance)
        if not os.path.isdir(path):
            os.mkdir(path, 0o700)
        os.chmod(path, 0o700)
    for instance, name in changes["write"]:
        seal(module, systemd_creds, directory, instance, name, desired[instance][name], key)
    removed_dirs = remove_owned(directory, changes, desired)
    save_manifest(directory, manifest_after(manifest, changes, key, removed_dirs))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            instances=dict(type="dict", required=True),  # configuration, never values
            store=dict(type="path", required=True),
            rotate=dict(type="list", elements="str", default=[]),
            directory=dict(type="path", default="/var/lib/microvm-credentials"),
            key=dict(type="str", choices=list(KEYS), default="auto"),
            var_name=dict(type="str", default="microvm_instances"),
            store_var_name=dict(type="str", default="microvm_credentials_store"),
            rotate_var_name=dict(type="str", default="microvm_rotate"),
            directory_var_name=dict(type="str", default="microvm_credential_directory"),
            key_var_name=dict(type="str", default="microvm_credential_key"),
            lock_timeout=dict(type="int", default=300),
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
    directory, key = module.params["directory"], module.params["key"]
    systemd_creds = module.get_bin_path("systemd-creds", required=True)

    desired = dict((name, {}) for name in module.params["instances"])
    for cred in module.params["credentials"]:
        desired.setdefault(cred["instance"], {})[cred["name"]] = base64.b64decode(cred["value"])

    manifest = open_store(module, directory)

    def read_current(instance, name):
        rc, out, dummy = module.run_command(decrypt_argv(systemd_creds, name, cred_path(directory, instance, name)),
                                            binary_data=True, encoding=None)
        return out if rc == 0 else None

    owned = manifest["instances"]
    if not module.params["purge"]:
        # Keep what is no longer configured: only configured credentials are looked at.
        owned = dict((i, dict((n, k) for n, k in owned.get(i, {}).items() if n in desired[i])) for i in desired)
    changes = plan(desired, owned, key, read_current)
    foreign = foreign_targets(directory, manifest["instances"], changes["write"])
    if foreign:
        module.fail_json(msg="%s: %s was not created by this collection (it is not in the manifest %s); move it away"
                         % (VARIABLE, foreign[0], MANIFEST))
    swept = stale_temp_files(directory, manifest["instances"]) if os.path.isdir(directory) else []
    changed = bool(changes["write"] or changes["remove"] or swept or needs_chmod(directory, manifest))
    result = dict(
        changed=changed,
        changed_instances=sorted(set(i for i, dummy in changes["write"] + changes["remove"])),
        removed=["%s/%s" % c for c in changes["remove"]],
        rekeyed=["%s/%s" % c for c in changes["rekey"]],
        swept=swept,
    )
    if module._diff:
        result["diff"] = diff_lines(desired, changes, key)
    if module.check_mode or not changed:
        module.exit_json(**result)

    for path in swept:
        os.unlink(path)
    apply(module, systemd_creds, directory, manifest, changes, desired, key)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
