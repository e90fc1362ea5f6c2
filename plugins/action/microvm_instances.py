# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Controller half of microvm.credentials.microvm_instances (see the module for docs).

Over a podman connection without pipelining, the module's payload (the launcher package
inside it) goes on stdin as the credentials module's does (see _actions/transport.py), so the host
call is one round trip instead of a temporary directory, a copy, a chmod, the run and a
cleanup. Elsewhere, and with ANSIBLE_KEEP_REMOTE_FILES (a module file to debug was asked
for), Ansible's own choice stands: its arguments hold no secret.

Without ``instances``, it reads the host's microvm_instances itself (_actions/variables.py: a
task argument "{{ microvm_instances | microvm.credentials.instances_config }}" is templated
by copying every instance and credential, which a no-op converge paid on every run).

The role's templates (the launcher script, the unit templates) are rendered here from
``templates``: the ``ansible.builtin.template`` lookup in the task's arguments deep-copies
every variable of the host for each template, which renders every instance and credential
definition again; a no-op converge of 50 instances spent a tenth of its time in it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib

from ansible import constants as C
from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.action import ActionBase

from ansible_collections.microvm.credentials.plugins.plugin_utils._actions import payload_cache as _payload_cache
from ansible_collections.microvm.credentials.plugins.plugin_utils._actions.options import VARIABLES, ArgumentError, instances_arg
from ansible_collections.microvm.credentials.plugins.plugin_utils._actions.results import without_invocation
from ansible_collections.microvm.credentials.plugins.plugin_utils._schema.instances import ConfigError, host_views
from ansible_collections.microvm.credentials.plugins.plugin_utils._actions.transport import TransportError, check_pipe, stdin_capable


class _ShallowVars(dict):
    """Task variables that the template lookup copies shallowly, as the template action copies
    them: the lookup only adds its template_* variables to its copy, and never changes a value."""

    def __deepcopy__(self, memo):
        copy = dict(self)
        if isinstance(copy.get("ansible_search_path"), list):  # the one value the lookup may extend
            copy["ansible_search_path"] = list(copy["ansible_search_path"])
        return copy


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _piped = False

    def _render(self, name, task_vars):
        """The template NAME rendered as lookup('ansible.builtin.template', NAME) renders it in this task."""
        lookup = self._shared_loader_obj.lookup_loader.get("ansible.builtin.template", loader=self._loader, templar=self._templar)
        return lookup.run([name], variables=_ShallowVars(task_vars))[0]

    def _module_args(self, task_vars):
        """The task's arguments, with the instances (the host's microvm_instances when unset) and the
        launcher script and the units rendered from templates."""
        args = dict(self._task.args)
        if args.get("instances") is None:
            # What the instances_config filter returns; the credentials task validated it before.
            args["instances"] = host_views(instances_arg({}, task_vars, self._templar), VARIABLES["instances"])
        templates = args.pop("templates", None)
        if templates:
            if "launcher_script" in templates:
                args["launcher_script"] = self._render(templates["launcher_script"], task_vars)
            if "units" in templates:
                args["units"] = dict((unit, self._render(name, task_vars)) for unit, name in templates["units"].items())
        return args

    def _is_pipelining_enabled(self, module_style, wrap_async=False):
        if self._piped:
            return module_style == "new" and not wrap_async
        return super(ActionModule, self)._is_pipelining_enabled(module_style, wrap_async)

    def _can_pipe(self):
        """Only where Ansible would copy the module because the connection cannot pipe (containers.podman
        before 1.20): connections with pipelining follow its configuration, as every module does."""
        if self._connection.has_pipelining or C.DEFAULT_KEEP_REMOTE_FILES:
            return False
        try:
            check_pipe(self._connection)
        except TransportError:
            return False
        return True

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        self._piped = self._can_pipe()
        try:
            module_args = self._module_args(task_vars)
        except (ArgumentError, ConfigError) as exc:
            raise AnsibleActionFail(to_native(exc))
        with stdin_capable(self._connection) if self._piped else contextlib.nullcontext(), \
                _payload_cache.for_action(self, self._task.resolved_action or self._task.action):
            result.update(without_invocation(self._execute_module(module_args=module_args, task_vars=task_vars)))
        return result
