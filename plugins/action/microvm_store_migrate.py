# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Controller-only action microvm.credentials.microvm_store_migrate (see the module for docs):
moves one store from one backend to another (_store/migrate.py), under the store's lock."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible.errors import AnsibleActionFail, AnsibleError
from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.action import ActionBase

from ansible_collections.microvm.credentials.plugins.plugin_utils._actions.backend_options import (
    backend_options,
    shared_by_name,
    shared_consumers,
)
from ansible_collections.microvm.credentials.plugins.plugin_utils._actions.options import ActionOptions, ArgumentError, variable
from ansible_collections.microvm.credentials.plugins.plugin_utils._store.backends import make_backend
from ansible_collections.microvm.credentials.plugins.plugin_utils._store.lock import StoreLock
from ansible_collections.microvm.credentials.plugins.plugin_utils._store.migrate import migrate
from ansible_collections.microvm.credentials.plugins.plugin_utils._store.store import Store, resolve_store_path


def _check(params):
    if params["source"] == params["target"]:
        raise ArgumentError("target: the store is already in %s; name another backend" % params["source"])
    if params["lock_timeout"] < 0:
        raise ArgumentError("lock_timeout: must be a number of seconds, 0 or more, got %d" % params["lock_timeout"])


MIGRATE = ActionOptions("microvm.credentials.microvm_store_migrate", dict(
    store=dict(type="path", required=True),
    store_var_name=dict(type="str", default="microvm_credentials_store"),
    shared=dict(type="bool", default=False),
    source=dict(type="str", required=True),
    target=dict(type="str", required=True),
    vault_id=dict(type="str"),
    sops_recipients=dict(type="list", elements="str", default=[]),
    sops_admins=dict(type="list", elements="str", default=[]),
    sops_binary=dict(type="str"),
    sops_config=dict(type="path"),
    lock_timeout=dict(type="int", default=300),
), _check)


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        task_vars = task_vars or {}
        try:
            args = MIGRATE.validate(self._task.args)
        except ArgumentError as exc:
            raise AnsibleActionFail(to_native(exc))
        store_var = variable(args, "store")
        try:
            root = resolve_store_path(args["store"], task_vars.get("inventory_dir") or task_vars.get("playbook_dir"), store_var)
            by_name = None
            if args["shared"]:
                consumers = shared_consumers(task_vars.get("hostvars") or {}, self._templar.template)
                by_name = shared_by_name(consumers, args["sops_admins"])
            options = backend_options(args, store_var, self._loader._vault.secrets, by_name)
            source = Store(root, make_backend(args["source"], options), store_var)
            target = Store(root, make_backend(args["target"], options), store_var)
            with StoreLock(root, args["lock_timeout"], store_var, create=not self._task.check_mode):
                moved = migrate(source, target, check_mode=self._task.check_mode)
        except AnsibleError as exc:
            raise AnsibleActionFail(to_native(exc))
        result["changed"] = bool(moved)
        result["moved"] = moved
        if self._task.diff and moved:
            # Which files go and come: paths only, never a value.
            result["diff"] = [dict(before_header=m["old"], after_header=m["new"],
                                   before=os.path.basename(m["old"]) + "\n", after=os.path.basename(m["new"]) + "\n")
                              for m in moved]
        return result
