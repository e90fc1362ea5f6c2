from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import uuid

import pytest

from ansible_collections.microvm.credentials.plugins.plugin_utils._generators import registry
from ansible_collections.microvm.credentials.plugins.plugin_utils._schema.instances import ConfigError, normalize_instances


def generate(**spec):
    (cred,) = normalize_instances({"web": {"kernel": "/k", "credentials": {"id": {"generate": dict(spec, type="uuid")}}}})[0]["credentials"]
    return cred["generate"]


def test_a_uuid_is_random_rfc4122_version_4_text():
    spec = generate()
    assert spec == {"type": "uuid", "format": "text"}
    a, b = registry.make(spec, {}, "microvm_instances.web.credentials.id"), registry.make(spec, {}, "x")
    assert a[1] is None and a != b
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", a[0].decode("ascii"))
    assert uuid.UUID(a[0].decode("ascii")).version == 4
    assert registry.current(spec, a[0], None, {}, "x") == a


def test_format_hex_is_32_hex_digits():
    secret, public = registry.make(generate(format="hex"), {}, "x")
    assert re.fullmatch(r"[0-9a-f]{32}", secret.decode("ascii")) and uuid.UUID(hex=secret.decode("ascii")).version == 4


def test_bad_format_names_the_variable():
    with pytest.raises(ConfigError, match=r"^microvm_instances\.web\.credentials\.id\.generate\.format: must be one of text, hex"):
        generate(format="urn")


def test_a_uuid_is_short_enough_for_bcrypt():
    spec = {"pw": {"generate": {"type": "uuid"}}, "h": {"generate": {"type": "passlib", "scheme": "bcrypt", "password_of": "pw"}}}
    assert normalize_instances({"web": {"kernel": "/k", "credentials": spec}})[0]["credentials"]
