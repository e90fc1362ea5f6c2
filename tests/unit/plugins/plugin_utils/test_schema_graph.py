from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.microvm.credentials.plugins.plugin_utils._schema.checks import ConfigError
from ansible_collections.microvm.credentials.plugins.plugin_utils._schema.graph import graph_of, order

PATH = "microvm_instances.web.credentials"
# ca <- cert <- bundle; pw <- hash; token alone
GRAPH = {"bundle": ["cert", "hash"], "cert": ["ca"], "ca": [], "hash": ["pw"], "pw": [], "token": []}


def test_inputs_come_first_and_order_is_stable():
    ordered = order(PATH, GRAPH)
    assert ordered == ["ca", "cert", "pw", "hash", "bundle", "token"]
    for cred_id, deps in GRAPH.items():
        assert all(ordered.index(dep) < ordered.index(cred_id) for dep in deps)


def test_no_inputs():
    assert order(PATH, {"b": [], "a": []}) == ["a", "b"]
    assert order(PATH, {}) == []


def test_unknown_input_names_the_variable():
    with pytest.raises(ConfigError) as info:
        order(PATH, {"a": [], "b": ["a", "nope"]})
    assert info.value.path == PATH + ".b.generate.inputs[1]"
    assert str(info.value) == PATH + ".b.generate.inputs[1]: 'nope' is not a credential of this instance"


@pytest.mark.parametrize("graph,cycle", [
    ({"a": ["b"], "b": ["a"]}, "a -> b -> a"),
    ({"a": ["a"]}, "a -> a"),
    ({"x": ["a"], "a": ["b"], "b": ["c"], "c": ["a"]}, "a -> b -> c -> a"),
])
def test_cycles_are_named(graph, cycle):
    with pytest.raises(ConfigError) as info:
        order(PATH, graph)
    assert str(info.value) == "%s.a.generate.inputs: dependency cycle %s" % (PATH, cycle)


def test_inputs_of_every_kind_of_reference():
    creds = [
        {"id": "hash", "generate": {"type": "passlib", "password_of": "pw"}},
        {"id": "cert", "generate": {"type": "tls", "ca": "ca"}},
        {"id": "self-signed", "generate": {"type": "tls", "ca": None}},
        {"id": "tok", "generate": {"type": "command", "inputs": ["a", "b"]}},
        {"id": "ssh.pub", "public_of": "ssh"},
        {"id": "file", "src": "x"},
    ]
    assert graph_of(creds) == {"hash": ["pw"], "cert": ["ca"], "self-signed": [], "tok": ["a", "b"], "ssh.pub": ["ssh"], "file": []}
