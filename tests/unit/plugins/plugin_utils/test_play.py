from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.microvm.credentials.plugins.plugin_utils._actions.play import (
    Others,
    instances_of,
    other_play_hosts,
    prompted_by_others,
    same_shared_store,
)


class Templar:
    def template(self, value):
        return value


TOKEN = {"scope": "shared", "generate": {"type": "hex"}}
TASK_VARS = {
    "inventory_hostname": "hv1",
    "ansible_play_hosts_all": ["hv1", "hv2", "hv3"],
    "hostvars": {
        "hv1": {"inventory_dir": "/inv"},
        "hv2": {"inventory_dir": "/inv", "microvm_instances": {"web": {"kernel": "/k", "credentials": {"tok": TOKEN}}}},
        "hv3": {"inventory_dir": "/inv", "microvm_instances": {"Bad Name": {}}, "microvm_credentials_shared_store": "/elsewhere"},
    },
}


def test_the_other_hosts_of_the_play_and_what_they_declare():
    assert other_play_hosts(TASK_VARS) == ["hv2", "hv3"]
    assert [i["name"] for i in instances_of(TASK_VARS, "hv2", "microvm_instances", Templar())] == ["web"]
    assert instances_of(TASK_VARS, "hv3", "microvm_instances", Templar()) is None  # it reports its own error
    assert instances_of(TASK_VARS, "hv1", "microvm_instances", Templar()) is None  # no such variable
    assert instances_of(TASK_VARS, "gone", "microvm_instances", Templar()) is None  # not in the inventory


def test_only_hosts_of_the_same_shared_store_count():
    assert same_shared_store(TASK_VARS, "hv2", "/inv/.microvm-credentials-shared", Templar())
    assert not same_shared_store(TASK_VARS, "hv3", "/inv/.microvm-credentials-shared", Templar())


class CountingTemplar(Templar):
    def __init__(self):
        self.calls = 0

    def template(self, value):
        self.calls += 1
        return value


def test_the_other_hosts_are_read_on_first_use_only():
    templar = CountingTemplar()
    others = Others(TASK_VARS, "microvm_instances", templar)
    assert templar.calls == 0  # a run that needs no other host reads none
    first = others()
    assert sorted(first) == ["hv2", "hv3"] and [i["name"] for i in first["hv2"]] == ["web"] and first["hv3"] is None
    calls = templar.calls
    assert others() is first and templar.calls == calls


def test_the_other_hosts_are_read_for_prompt_answers_only_when_answers_are_given():
    asked = {"hostvars": {"hv2": {"microvm_instances": {"web": {"kernel": "/k", "credentials": {
        "pw": {"prompt": "Password?"}}}}}},
        "inventory_hostname": "hv1", "ansible_play_hosts_all": ["hv1", "hv2"]}
    for answers in (None, {}):  # {} is the role's default
        templar = CountingTemplar()
        assert prompted_by_others(answers, Others(asked, "microvm_instances", templar)) == set()
        assert templar.calls == 0
    assert prompted_by_others({"web/pw": "x"}, Others(asked, "microvm_instances", Templar())) == {"web/pw"}
