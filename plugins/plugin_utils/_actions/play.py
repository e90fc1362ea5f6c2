# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What other hosts declare, read from hostvars: the checks that span hosts (one definition
per shared secret, prompt answers given to every host) need it before anything changes.

Another host whose configuration does not validate is left out: its own run reports it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible.errors import AnsibleError

from ansible_collections.microvm.credentials.plugins.plugin_utils._resolve import prompted_labels
from ansible_collections.microvm.credentials.plugins.plugin_utils._schema.instances import normalize_instances
from ansible_collections.microvm.credentials.plugins.plugin_utils._store.location import shared_store_of
from ansible_collections.microvm.credentials.plugins.plugin_utils._schema.checks import ConfigError


def other_play_hosts(task_vars):
    """The play's other hosts (ansible_play_hosts_all, failed ones included), in order."""
    me = task_vars.get("inventory_hostname")
    return [h for h in task_vars.get("ansible_play_hosts_all") or [] if h != me]


def instances_of(task_vars, host, var_name, templar):
    """The normalised instances HOST declares in its variable VAR_NAME, or None (no such host or
    variable, or a configuration that does not validate)."""
    hostvars = task_vars.get("hostvars") or {}
    try:
        if host not in hostvars:
            return None
        raw = templar.template(hostvars[host].get(var_name))
        return normalize_instances(raw, var_name) if raw is not None else None
    except (AnsibleError, ConfigError, KeyError):
        return None


class Others:
    """{host: instances_of(host)} of the play's other hosts, read on the first call only."""

    def __init__(self, task_vars, var_name, templar):
        self._task_vars, self._var_name, self._templar = task_vars, var_name, templar
        self._read = None

    def __call__(self):
        if self._read is None:
            self._read = dict((host, instances_of(self._task_vars, host, self._var_name, self._templar))
                              for host in other_play_hosts(self._task_vars))
        return self._read


def prompted_by_others(answers, others):
    """The labels the play's other hosts (OTHERS, an Others) prompt, which ANSWERS may name. Read
    only when answers were given: the role's default is {}, and on each host of a fleet reading
    every other host cost more than its own no-op run."""
    if not answers:
        return set()
    return set(label for insts in others().values() if insts for label in prompted_labels(insts))


def same_shared_store(task_vars, host, shared_path, templar):
    """True if HOST's shared store is SHARED_PATH (when it cannot be told, it is taken to be)."""
    try:
        theirs = shared_store_of(task_vars, templar, None, host)
    except AnsibleError:
        return True
    return os.path.realpath(theirs) == os.path.realpath(shared_path)
