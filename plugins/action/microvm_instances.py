# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Controller half of microvm.credentials.microvm_instances (see the module for docs).

The module's payload (the launcher package inside it) goes on stdin wherever the
connection can take it (see _transport), so the host call is one round trip instead
of a temporary directory, a copy, a chmod, the run and a cleanup. Elsewhere the
module is copied as usual: its arguments hold no secret.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.plugins.action import ActionBase

from ansible_collections.microvm.credentials.plugins.plugin_utils._transport import TransportError, check_pipe, stdin_capable


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _piped = False

    def _is_pipelining_enabled(self, module_style, wrap_async=False):
        if self._piped:
            return module_style == "new" and not wrap_async
        return super(ActionModule, self)._is_pipelining_enabled(module_style, wrap_async)

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        try:
            check_pipe(self._connection)
        except TransportError:
            result.update(self._execute_module(task_vars=task_vars))
            return result
        self._piped = True
        with stdin_capable(self._connection):
            result.update(self._execute_module(task_vars=task_vars))
        return result
