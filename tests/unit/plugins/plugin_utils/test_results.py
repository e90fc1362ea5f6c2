from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.microvm.credentials.plugins.plugin_utils._actions.results import without_invocation


def test_the_echoed_arguments_are_dropped_below_vvv():
    result = {"changed": False, "invocation": {"module_args": {"instances": ["web"]}}}
    assert without_invocation(dict(result), verbosity=0) == {"changed": False}
    assert without_invocation(dict(result), verbosity=3) == result
