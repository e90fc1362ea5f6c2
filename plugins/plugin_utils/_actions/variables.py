# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A host's variable read by an action itself, as the task argument ``"{{ NAME }}"`` would give it.

Ansible templates a task argument by copying every node of its value; for
microvm_instances (every instance and credential of a host) that grows with the
secrets: 50 instances of 10 secrets took 0.15 s per task and host, on every run.
Most inventories hold no template in it, and then the value is what templating would
return: it is used as it is. Anything else (a string that may be a template, a vault
encrypted value, a type templating transforms) is templated as the argument would be.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

_SCALARS = (str, bool, int, float, type(None))


def _plain(value, templar):
    """True if templating VALUE would return it unchanged: only dicts, lists and scalars, and no
    string (key or value) that may be a template."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if templar.is_possibly_template(node):
                return False
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif not isinstance(node, _SCALARS):
            return False
    return True


def host_variable(task_vars, templar, name):
    """The variable NAME of TASK_VARS (which has it) as ``"{{ NAME }}"`` would give it."""
    value = task_vars[name]
    return value if _plain(value, templar) else templar.template(value)
