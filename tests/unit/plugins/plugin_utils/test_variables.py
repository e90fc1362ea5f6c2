from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from ansible_collections.microvm.credentials.plugins.plugin_utils._actions.variables import _plain, host_variable


class CountingTemplar(Templar):
    def __init__(self, **kw):
        super(CountingTemplar, self).__init__(loader=DataLoader(), **kw)
        self.templated = 0

    def template(self, variable, *args, **kw):
        self.templated += 1
        return super(CountingTemplar, self).template(variable, *args, **kw)


PLAIN = {"web": {"kernel": "/k", "mem": 512, "autostart": False, "oem_strings": ["a=b", "{ not a template }"],
                 "credentials": {"tok": {"generate": {"type": "hex", "bytes": 16}}}, "binary": None, "ratio": 0.5}}


def test_a_value_without_templates_is_used_as_it_is():
    templar = CountingTemplar(variables={"microvm_instances": PLAIN})
    assert host_variable({"microvm_instances": PLAIN}, templar, "microvm_instances") is PLAIN
    assert templar.templated == 0


@pytest.mark.parametrize("value", [
    {"web": {"kernel": "{{ kernel_dir }}/vmlinuz"}},  # a value
    {"{{ name }}": {"kernel": "/k"}},  # a key
    {"web": {"oem_strings": ["{% if true %}x{% endif %}"]}},  # a statement, in a list
    "{{ other_instances }}",  # the whole variable
    {"web": {"mem": object()}},  # a type templating may transform (an encrypted string, ...)
])
def test_anything_that_templating_may_change_is_templated(value):
    assert not _plain(value, Templar(loader=DataLoader()))


def test_a_template_is_rendered_as_the_task_argument_would_render_it():
    # Trusted, as a template in the inventory is.
    variables = {"kernel_dir": "/srv/guest", "microvm_instances": {"web": {"kernel": trust_as_template("{{ kernel_dir }}/vmlinuz"), "mem": 384}}}
    templar = CountingTemplar(variables=variables)
    got = host_variable(variables, templar, "microvm_instances")
    assert got == {"web": {"kernel": "/srv/guest/vmlinuz", "mem": 384}} and templar.templated == 1
    assert got == templar.template(trust_as_template("{{ microvm_instances }}"))
