# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
name: secret
short_description: Read a secret from the controller store of microvm.credentials
version_added: 0.1.0
description:
  - Returns the value of a credential that the C(microvm.credentials.microvm) role generated and
    stored, vault encrypted, as C(STORE/INSTANCE/CREDENTIAL_ID.vault), for use in other roles
    (an application's configuration, a database user on another host).
  - "A secret of C(scope: shared) is read with the term C(shared:NAME), from C(SHARED_STORE/NAME.vault)."
  - Decrypting needs the vault password of the play (C(--vault-password-file), C(--vault-id) or
    C(ANSIBLE_VAULT_PASSWORD_FILE)).
  - Never generates anything; a missing secret is an error.
  - B(The value is a plaintext secret.) Ansible cannot hide it by itself, see the notes.
author:
  - microvm.credentials maintainers (!UNKNOWN)
extends_documentation_fragment:
  - microvm.credentials.store
options:
  encoding:
    description:
      - C(text) returns the value as UTF-8 text and fails on binary values.
      - C(base64) returns the base64 encoding of the value, for binary values.
    type: str
    choices: [text, base64]
    default: text
notes:
  - "Set C(no_log: true) on every task that uses the value, and on tasks that register a result
    holding it; otherwise it appears in the output, in C(-v) results, in logs and in callbacks."
  - Do not put the value in a fact (C(set_fact)) or in C(vars) of a play; facts are shown by
    C(-vvv) and may be cached in plain text by a fact cache. Use the lookup in the task that needs it.
  - Do not pass the value on a command line (C(ansible.builtin.command) arguments show up in the
    process list and the journal); use C(stdin) or a template written with mode C(0600).
  - "C(--diff) shows the content of templates and copies; set C(diff: false) on tasks that write it."
seealso:
  - plugin: microvm.credentials.public
    plugin_type: lookup
"""

EXAMPLES = r"""
- name: Configure the application with the database password of microVM db on host hv1
  ansible.builtin.template:
    src: app.conf.j2
    dest: /etc/app/app.conf
    mode: "0600"
  vars:
    db_password: "{{ lookup('microvm.credentials.secret', 'db/password', host='hv1') }}"
  no_log: true
  diff: false

- name: Install a binary key file
  ansible.builtin.copy:
    content: "{{ lookup('microvm.credentials.secret', 'web/luks', encoding='base64') | b64decode }}"
    dest: /etc/app/luks.key
    mode: "0600"
  no_log: true
  diff: false
"""

RETURN = r"""
_raw:
  description: The secret values, in the order of the terms (text, or base64 with O(encoding=base64)).
  type: list
  elements: str
"""

import base64

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

from ansible_collections.microvm.credentials.plugins.plugin_utils._store.location import location_of
from ansible_collections.microvm.credentials.plugins.plugin_utils._store.vault import VaultStore


def _encode(term, value, encoding):
    if encoding == "base64":
        return base64.b64encode(value).decode("ascii")
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise AnsibleLookupError("%s: the secret is binary, not UTF-8 text; use encoding='base64'" % term)


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        variables = variables or {}
        values = []
        for term in terms:
            root, instance, cred_id = location_of(term, variables, self._templar, self.get_option)
            store = VaultStore(root, self._loader._vault.secrets)
            value = store.load(instance, cred_id)
            if value is None:
                raise AnsibleLookupError("%s: no secret at %s (has the role run for its host?)" % (term, store.path(instance, cred_id)))
            values.append(_encode(term, value, self.get_option("encoding")))
        # Lookup results are data, never templates: "{{" in a password stays as it is.
        return values
