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
  - Reads each credential's secret from the controller's encrypted store (O(backend)), generating and
    storing it there the first time only. Secrets are never regenerated implicitly; list them in
    O(rotate) to replace them. A stored secret is decrypted only when it must be made anew, checked
    anew (its input, definition or public half changed), or sent to the host.
  - Checks that every instance's credentials fit its hypervisor's SMBIOS OEM string limits (from each
    value's recorded size, without decrypting it).
  - Digests first. The host gets one token per credential, a keyed digest of the encrypted file the
    value is read from (never of the value), and answers which credentials it lacks - missing, made
    from another token, sealed with another O(key), or changed on the host. Only those are decrypted
    and sent, in a second module call, on stdin only, and encrypted with C(systemd-creds encrypt) into
    O(credential_directory). A converge that changes nothing makes one host call, decrypts nothing and sends no
    value.
  - Ownership. The manifest C(DIRECTORY/.microvm-credentials.json) (0600) lists the instance directories
    and C(.cred) files the module created, with the key each was sealed with, the token it was made from
    and the file's SHA-256; only those are ever
    rewritten or removed. A missing O(credential_directory) is created 0700 (missing parents 0755). An existing one
    without a manifest is used only if it is empty, and its mode is left as it is; one that holds anything
    else is refused before any change.
  - Temporary files of interrupted runs (C(.NAME.cred.XXXXXXXX.tmp)) in the module's own directories are
    removed on the next run (not in check mode) and listed in C(swept).
  - This is an action plugin. Its part on the host is the internal module
    C(microvm.credentials.microvm_credentials_host), which it calls with the host's view only
    (the credential directory, key, purge, instance names, tokens and the values it needs), never a
    controller path or a generator.
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
    description: Runs on the controller for the controller store and on the host for systemd-creds.
requirements:
  - systemd-creds (systemd 250 or later) on the host.
  - libpass (which provides the C(passlib) module) on the controller for C(passlib) generators, and the
    Python package C(bcrypt) for the C(bcrypt) scheme.
  - With O(backend=vault), a vault secret on the controller (C(--vault-password-file), C(--vault-id) or
    E(ANSIBLE_VAULT_PASSWORD_FILE)) to make or read a secret; a converge that changes nothing needs none.
extends_documentation_fragment:
  - microvm.credentials.action_options
options:
  store:
    required: true
  shared_store:
    description:
      - "Directory on the controller that holds the secrets of C(scope: shared), one file C(NAME.vault) each,
        for all hosts; resolved like O(store). Required when a credential is shared."
      - Shared secrets are read, made and written under its lock C(.NAME.lock) as well, taken after the lock of O(store).
    type: path
    version_added: 0.2.0
  rotate:
    description:
      - Secrets to generate anew, as C(INSTANCE/CREDENTIAL_ID), C(INSTANCE/*), C(shared:NAME) or C(*).
      - Each entry is an fnmatch pattern (C(*), C(?), C([seq]), C([!seq]); C(*) also matches C(/)). A string is refused
        (not split at commas), and so is an entry that matches no stored secret of any host of the play, or only C(src)
        credentials. On a host where an entry matches nothing, it rotates nothing.
      - Hashes generated from a rotated password are regenerated with it.
      - A secret is made anew at most once per run, so the hosts of a run that all name one shared secret get one new value.
    type: list
    elements: str
    default: []
  rekey:
    description:
      - Re-encrypt the stored files that are not encrypted to whom the configuration wants now (after
        recipients or vault ids changed). Without it, such a file stops the run before anything changes,
        with an error naming it. The values stay the same.
    type: bool
    default: false
    version_added: 0.2.0
  lock_timeout:
    description:
      - Seconds to wait for another run that holds the lock of the same O(store).
      - The lock is C(flock) on the file C(.NAME.lock) next to the store directory C(NAME) (mode
        0600), held from the first read of the store until the host has answered, so two runs
        never both generate a secret. When the time is up, the task fails and names the lock file.
    type: int
    version_added: 0.2.0
    default: 300
  purge:
    description:
      - Remove stored credentials that are no longer configured, and all credentials of instances
        that are no longer in O(instances).
    type: bool
    default: true
notes:
  - Always use this module with C(no_log) (the roles do through C(microvm_secure_logging)).
  - The values reach the host as arguments of C(microvm.credentials.microvm_credentials_host), so its
    payload always travels on the connection's stdin (pipelining is forced, whatever C(pipelining) or
    E(ANSIBLE_KEEP_REMOTE_FILES) say) and is never written to a file, on the controller or the host. Connections that can pipeline (C(ssh), C(paramiko),
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
store_rekeyed:
  description: Stored secrets re-encrypted to their current recipients with O(rekey) (in check mode, those that would be).
  returned: success
  type: list
  elements: str
  sample: ["web/db-password", "shared:cluster-token"]
  version_added: 0.2.0
changed_instances:
  description: Instances whose credentials changed on the host; restart these.
  returned: always
  type: list
  elements: str
  sample: [web]
generated:
  description: Secrets newly generated (or prompted) into the controller store, as C(INSTANCE/CREDENTIAL_ID) or C(shared:NAME).
  returned: always
  type: list
  elements: str
rotated:
  description:
    - The part of RV(generated) that replaced a stored value, with the reason, C(rotate) (O(rotate)), C(input) (an input
      was made anew), C(definition) (its definition changed, with C(regenerate_on_change)), C(max_age), C(renew)
      (C(renew_before)) or C(stale) (the stored value no longer fits, such as a hash of another password).
  returned: success
  type: dict
  sample: {"web/token": "max_age", "shared:cluster-token": "rotate"}
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
    - What the host reported before anything was generated or written (see C(plugin_utils/_actions/host_probe.py)).
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
sent:
  description: Credentials whose value went to the host in this run, as C(INSTANCE/NAME) (names only).
  returned: success
  type: list
  elements: str
decryptions:
  description: How many stored or C(src) values this run decrypted on the controller (0 in a converge that changes nothing).
  returned: success
  type: int
tampered:
  description: Credentials whose C(.cred) file was deleted or changed on the host since it was written; they are written again.
  returned: always
  type: list
  elements: str
public:
  description:
    - Public halves of key-pair credentials (C(ssh), C(wireguard), C(tls), C(ca), C(command) with C(public_output)),
      keyed C(INSTANCE/CREDENTIAL_ID), also stored beside the vault files as C(CREDENTIAL_ID.pub).
    - Not secret; the role sets them as the fact C(microvm_public).
  returned: success
  type: dict
  sample: {"web/ssh-host-key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ9p0kq9z3m8x5o8sG4Jr1h4c2b0n3Yk7W1qXo9eFf2a root@web"}
"""
