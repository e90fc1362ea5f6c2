# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Refuses a task that names the internal module microvm_credentials_info_host.

It takes the host's view only, which the microvm_credentials_info action makes from
validated options and sends on stdin (through _execute_module, which does not come
here), with the run's HMAC key.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        raise AnsibleActionFail("microvm.credentials.microvm_credentials_info_host is internal: use microvm.credentials.microvm_credentials_info")
