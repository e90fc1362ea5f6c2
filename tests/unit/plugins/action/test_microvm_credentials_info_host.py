from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest
from ansible.errors import AnsibleActionFail

from ansible_collections.microvm.credentials.plugins.action.microvm_credentials_info_host import ActionModule


def test_a_task_that_names_the_internal_module_fails():
    # The action calls the module through _execute_module, which does not come here.
    with pytest.raises(AnsibleActionFail, match="microvm_credentials_info_host is internal: use microvm.credentials.microvm_credentials_info"):
        ActionModule.__new__(ActionModule).run(task_vars={})
