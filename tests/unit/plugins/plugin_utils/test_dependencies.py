from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.microvm.credentials.plugins.plugin_utils._config import ConfigError
from ansible_collections.microvm.credentials.plugins.plugin_utils._dependencies import order, to_regenerate

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


@pytest.mark.parametrize("rotated,expected", [
    ([], []),
    (["token"], ["token"]),
    (["ca"], ["ca", "cert", "bundle"]),
    (["pw"], ["pw", "hash", "bundle"]),
    (["pw", "ca"], ["ca", "cert", "pw", "hash", "bundle"]),
    (["bundle"], ["bundle"]),
])
def test_rotation_regenerates_transitive_dependents(rotated, expected):
    assert to_regenerate(GRAPH, rotated) == expected
