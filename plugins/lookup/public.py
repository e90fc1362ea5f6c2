# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
name: public
short_description: Read the public half of a generated key pair from the controller store
version_added: 0.1.0
description:
  - Returns the public halves of key-pair credentials (C(ssh), C(wireguard), C(tls), C(ca)) that the
    C(microvm.credentials.microvm) role stored in plain text beside the vault files, as
    C(STORE/INSTANCE/CREDENTIAL_ID.pub).
  - Needs no vault password, so any play can use it, for example to write C(known_hosts), WireGuard
    peers or trust stores on other hosts.
  - The value is an SSH public key line, a base64 WireGuard public key or a PEM certificate, without
    its final newline.
author:
  - microvm.credentials maintainers (!UNKNOWN)
extends_documentation_fragment:
  - microvm.credentials.store
notes:
  - A credential has a public half once the role has run for its host (not in check mode).
seealso:
  - plugin: microvm.credentials.secret
    plugin_type: lookup
"""

EXAMPLES = r"""
- name: Trust the SSH host key of microVM web on host hv1
  ansible.builtin.known_hosts:
    name: web.example
    key: "web.example {{ lookup('microvm.credentials.public', 'web/ssh_host_ed25519_key', host='hv1') }}"

- name: Write a WireGuard peer section for each peer VM
  ansible.builtin.template:
    src: wg0.conf.j2
    dest: /etc/wireguard/wg0.conf
    mode: "0600"
  vars:
    peer_keys: "{{ query('microvm.credentials.public', 'vpn-a/wg', 'vpn-b/wg', host='hv1') }}"
"""

RETURN = r"""
_raw:
  description: The public halves, in the order of the terms.
  type: list
  elements: str
"""

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

from ansible_collections.microvm.credentials.plugins.plugin_utils._store.public import load_public, public_path
from ansible_collections.microvm.credentials.plugins.plugin_utils._store.location import location_of


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        variables = variables or {}
        values = []
        for term in terms:
            store, instance, cred_id = location_of(term, variables, self._templar, self.get_option)
            value = load_public(store, instance, cred_id)
            if value is None:
                raise AnsibleLookupError("%s: no public half at %s (is it a key pair, and has the role run for its host?)"
                                         % (term, public_path(store, instance, cred_id)))
            values.append(value.decode("utf-8"))
        return values
