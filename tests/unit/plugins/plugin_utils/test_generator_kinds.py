from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

import pytest

from ansible_collections.microvm.credentials.plugins.plugin_utils._generators import registry
from ansible_collections.microvm.credentials.plugins.plugin_utils._generators.kind import Kind

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
ARGUMENT_SPECS = os.path.join(ROOT, "roles", "microvm", "meta", "argument_specs.yml")


def test_the_registry_finds_every_kind_module():
    # Kinds come from the modules that define KINDS, not from a list.
    assert set(registry.kinds()) >= {"base64", "hex", "bytes", "password", "passlib", "ssh", "wireguard", "tls", "ca",
                                     "command", "prompt"}
    assert "prompt" not in registry.selectable()


@pytest.mark.parametrize("name", sorted(registry.kinds()))
def test_each_kind_implements_the_interface(name):
    kind = registry.kind(name)
    assert isinstance(kind, Kind) and kind.NAME == name and "type" in kind.KEYS
    assert type(kind).make is not Kind.make


@pytest.mark.parametrize("name", sorted(registry.selectable()))
def test_each_kind_is_documented_in_the_role_argument_spec(name):
    with open(ARGUMENT_SPECS) as f:
        assert re.search(r"C\(%s\)" % re.escape(name), f.read())


def test_definition_hash_leaves_out_a_prompts_text():
    assert registry.definition_hash({"type": "prompt", "prompt": "a?"}) == registry.definition_hash({"type": "prompt", "prompt": "b?"})
    assert registry.definition_hash({"type": "hex", "bytes": 1}) != registry.definition_hash({"type": "hex", "bytes": 2})
