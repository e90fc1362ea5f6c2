#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: microvm_credentials_info_host
short_description: Internal host part of microvm.credentials.microvm_credentials_info
version_added: 0.2.0
description:
  - Internal. Only the action P(microvm.credentials.microvm_credentials_info#module) calls this module, with
    its payload on stdin; a task that names it directly fails. Use that action (or C(playbooks/audit.yml)).
  - Says of each credential the host holds in O(credential_directory) whether it was made from the token in
    O(_expected), sealed with O(key) and left as written, by the rule by which
    P(microvm.credentials.microvm_credentials#module) decides to rewrite a credential (nothing is
    decrypted); and whether the running C(microvm@INSTANCE.service) started before the credential
    file was last written.
  - It gets the host's view only, never a value, a controller path or how a secret is generated.
author:
  - microvm.credentials maintainers (!UNKNOWN)
attributes:
  check_mode:
    support: full
    description: Nothing changes, in any mode.
  diff_mode:
    support: N/A
    description: Nothing changes, so there is no diff.
requirements:
  - systemctl.
extends_documentation_fragment:
  - microvm.credentials.host_store
options:
  _expected:
    description: Internal. The controller's tokens of the injected credentials (keyed digests of their sources).
    type: list
    elements: dict
    required: true
    suboptions:
      instance:
        description: Instance name.
        type: str
        required: true
      name:
        description: Credential name in the guest.
        type: str
        required: true
      token:
        description: The token the converge sends for this credential.
        type: str
        required: true
seealso:
  - module: microvm.credentials.microvm_credentials_info
"""

EXAMPLES = r"""
# Internal: use microvm.credentials.microvm_credentials_info, which calls this module.
- name: Audit the microVM credentials of this host
  microvm.credentials.microvm_credentials_info:
    instances: "{{ microvm_instances }}"
"""

RETURN = r"""
credentials:
  description: The host's state of each expected or held credential.
  returned: success
  type: list
  elements: dict
  contains:
    instance:
      description: Instance name.
      type: str
    name:
      description: Credential name in the guest.
      type: str
    host:
      description: C(in-sync), C(differs), C(missing), C(rekey) or C(host-only).
      type: str
    restart_pending:
      description: The instance runs, and became active before the credential file was last written.
      type: bool
units:
  description: State of each instance's C(microvm@NAME.service), as systemd reports it.
  returned: success
  type: dict
  sample: {web: {active_state: active, unit_file_state: enabled, active_since: 1764250100.25}}
directory_state:
  description: The host credential directory, C(managed), C(empty), C(absent), C(foreign) or C(not-a-directory).
  returned: success
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native
from ansible_collections.microvm.credentials.plugins.module_utils._host.audit import compare
from ansible_collections.microvm.credentials.plugins.module_utils._host.credstore import (
    HOST_STORE_SPEC,
    CredStoreError,
    cred_path,
    cred_written,
    directory_state,
    file_sha256,
    load_manifest,
)
from ansible_collections.microvm.credentials.plugins.module_utils._host.unitstate import (
    instance_units,
    restart_pending,
    systemctl_show_args,
)


def expected_digests(params):
    """{instance: {name: token}}, with every instance of the host, also those without credentials."""
    expected = dict((name, {}) for name in params["_instances"])
    for cred in params["_expected"]:
        expected.setdefault(cred["instance"], {})[cred["name"]] = cred["token"]
    return expected


def held(module, directory):
    """(state of DIRECTORY, {instance: {name: entry}} its manifest lists)."""
    state, dummy = directory_state(directory)
    if state != "managed":
        return state, {}
    try:
        return state, load_manifest(directory)["instances"]
    except CredStoreError as exc:
        module.fail_json(msg=to_native(exc))


def unit_states(module, instances):
    """{instance: unit state or None} of INSTANCES, from one systemctl show."""
    if not instances:  # without units, systemctl show would describe the manager
        return {}
    systemctl = module.get_bin_path("systemctl", required=True)
    rc, out, err = module.run_command([systemctl] + systemctl_show_args(instances))
    if rc != 0:
        module.fail_json(msg="systemctl show failed: %s" % to_native(err).strip())
    return instance_units(out, instances)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            HOST_STORE_SPEC,
            _expected=dict(type="list", elements="dict", required=True, options=dict(
                instance=dict(type="str", required=True),
                name=dict(type="str", required=True),
                token=dict(type="str", required=True, no_log=False),
            )),
        ),
        supports_check_mode=True,
    )
    directory, key = module.params["credential_directory"], module.params["key"]
    expected = expected_digests(module.params)
    state, owned = held(module, directory)

    states = compare(expected, owned, key, lambda instance, name: file_sha256(cred_path(directory, instance, name)))
    units = unit_states(module, sorted(set(expected) | set(owned)))
    credentials = []
    for (instance, name), cred_state in sorted(states.items()):
        written = cred_written(directory, instance, name) if cred_state != "missing" else None
        credentials.append(dict(instance=instance, name=name, host=cred_state,
                                restart_pending=restart_pending(units[instance], written)))
    module.exit_json(changed=False, credentials=credentials, units=units, directory_state=state)


if __name__ == "__main__":
    main()
