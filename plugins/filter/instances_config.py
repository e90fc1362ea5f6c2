# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
name: instances_config
short_description: Validate microvm_instances and return the host's view of each instance
version_added: 0.1.0
description:
  - Validates the C(microvm_instances) mapping and returns the host's view of each instance, sorted by
    name, with defaults filled in and derived paths (runtime directory, sockets, serial log) added;
    it is what P(microvm.credentials.microvm_instances#module) takes.
  - The result holds no secret and nothing of the controller (no generator, no C(src) path).
    Credentials appear as the guest gets them, by guest name and C(binary); those with
    C(inject=false) stay on the controller and are left out.
  - Errors name the variable path to fix, for example C(microvm_instances.web.credentials.db.name).
author:
  - microvm.credentials maintainers (!UNKNOWN)
options:
  _input:
    description: The C(microvm_instances) mapping.
    type: dict
    required: true
  var_name:
    description: The variable name to use in error messages.
    type: str
    default: microvm_instances
"""

EXAMPLES = r"""
- name: Validate the instances before anything changes
  ansible.builtin.set_fact:
    instances: "{{ microvm_instances | microvm.credentials.instances_config }}"
"""

RETURN = r"""
_value:
  description: The host's view of the instances (see docs/design.md in the collection).
  type: list
  elements: dict
"""

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.microvm.credentials.plugins.plugin_utils._schema.instances import ConfigError, host_views


def instances_config(instances, var_name="microvm_instances"):
    try:
        return host_views(instances, var_name)
    except ConfigError as exc:
        raise AnsibleFilterError(to_native(exc))


class FilterModule(object):
    def filters(self):
        return {"instances_config": instances_config}
