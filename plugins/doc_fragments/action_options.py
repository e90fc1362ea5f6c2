# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The options microvm_credentials and microvm_credentials_info both take
    # (plugin_utils/_actions/options.py COMMON_SPEC).
    DOCUMENTATION = r"""
options:
  instances:
    description:
      - The microVM instances, as in the C(microvm_instances) variable. All of it is validated, as the
        role validates it, before anything is read, generated or changed.
      - Unset, the host's C(microvm_instances), as the argument C("{{ microvm_instances }}") would give
        it (the role's tasks leave it unset). Templating a task argument copies all of it; a
        C(microvm_instances) without any template in it is read as it is.
    type: dict
  store:
    description:
      - The controller store, the directory on the controller that holds this host's encrypted secrets,
        one file C(INSTANCE/CREDENTIAL_ID.vault) (C(.sops) with O(backend=sops)) per secret.
      - A relative path is resolved against the inventory directory (C(inventory_dir)), or the
        playbook directory when the host has no inventory directory; never against the current
        directory.
    type: path
  credential_directory:
    description:
      - Host directory of the encrypted credential store (never expanded on the controller), the role's
        C(microvm_credential_directory).
      - An absolute, normalised path of letters, digits and C(/_.@+:=-) (it appears unescaped in
        C(LoadCredentialEncrypted=)). Every C(DIRECTORY/INSTANCE/.NAME.cred.XXXXXXXX.tmp) must fit
        in 4095 bytes.
      - The alias O(directory) is deprecated and will be removed in 1.0.0.
    type: path
    aliases: [directory]
    default: /var/lib/microvm-credentials
  key:
    description: The C(--with-key) of C(systemd-creds encrypt) the host's credentials are sealed with.
    type: str
    choices: [auto, host, tpm2, host+tpm2]
    default: auto
  backend:
    description:
      - How the store encrypts each secret. C(vault) keeps one ansible-vault file per secret, C(sops) one
        sops file per secret, encrypted to age recipients (O(sops_recipients), or a C(.sops.yaml)).
    type: str
    default: vault
    version_added: 0.2.0
  vault_id:
    description:
      - With O(backend=vault), the vault id whose secret encrypts new and rotated secrets, so that
        each host or group can have a vault password of its own. It must be one of the vault ids
        given to ansible (C(--vault-id ID@SOURCE)).
      - Unset, Ansible's default vault identity is used, as C(ansible-vault encrypt) would.
    type: str
    version_added: 0.2.0
  sops_recipients:
    description:
      - With O(backend=sops), the age public keys this host's files are encrypted to (its
        C(microvm_credentials_sops_recipients)), when no C(.sops.yaml) creation rule applies.
      - A shared secret is encrypted to the union of the recipients of every host of the inventory
        whose instances use it (read from their hostvars), plus O(sops_admins).
    type: list
    elements: str
    default: []
    version_added: 0.2.0
  sops_admins:
    description: With O(backend=sops), age public keys added to the recipients of every file.
    type: list
    elements: str
    default: []
    version_added: 0.2.0
  sops_binary:
    description:
      - With O(backend=sops), the sops executable (3.9.0 or later). By default C(sops) on C(PATH), then
        the binary of the controller Python's package C(sops-binary).
    type: str
    version_added: 0.2.0
  sops_config:
    description:
      - With O(backend=sops), a C(.sops.yaml) whose creation rules apply to every file. By default the
        nearest C(.sops.yaml) in or above each file's directory, when there is one.
    type: path
    version_added: 0.2.0
"""
