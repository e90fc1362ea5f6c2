from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.microvm.credentials.plugins.plugin_utils._schema.instances import ConfigError, normalize_instances
from ansible_collections.microvm.credentials.plugins.plugin_utils._generators.options import definition_hash, duration

PATH = "microvm_instances.web.credentials"


def creds(**credentials):
    return dict((c["id"], c) for c in normalize_instances({"web": {"kernel": "/k", "credentials": credentials}})[0]["credentials"])


@pytest.mark.parametrize("text,seconds", [("45s", 45), ("30m", 1800), ("12h", 43200), ("90d", 7776000), ("2w", 1209600)])
def test_durations(text, seconds):
    assert duration("p", text) == seconds


@pytest.mark.parametrize("value", ["90", "0d", "1y", "1.5d", "d", " 1d", "1d\n", 90, None, "-1d"])
def test_bad_durations(value):
    with pytest.raises(ConfigError, match=r"^p: must be a duration"):
        duration("p", value)


@pytest.mark.parametrize("value", ["36526d", "5218w", "999999999w", "876625h"])
def test_durations_beyond_100_years_are_refused(value):
    # Larger ones crashed later in datetime arithmetic ("Python int too large to convert to C int").
    with pytest.raises(ConfigError, match=r"^p: must be at most 100 years"):
        duration("p", value)
    assert duration("p", "36525d") == 36525 * 86400


def test_policy_defaults_and_options():
    got = creds(a={"generate": {"type": "hex"}},
                b={"generate": {"type": "tls", "days": 30}, "max_age": "20d", "renew_before": "7d", "regenerate_on_change": True},
                c={"scope": "shared", "generate": {"type": "hex"}},
                d={"scope": "shared", "shared_name": "cluster-token", "prompt": "Cluster token"})
    assert (got["a"]["scope"], got["a"]["max_age"], got["a"]["renew_before"], got["a"]["regenerate_on_change"]) == ("instance", None, None, False)
    assert "shared_name" not in got["a"]
    assert (got["b"]["max_age"], got["b"]["renew_before"], got["b"]["regenerate_on_change"]) == (20 * 86400, 7 * 86400, True)
    assert got["a"]["not_after"] is None
    assert got["c"]["shared_name"] == "c" and got["d"]["shared_name"] == "cluster-token"
    assert got["d"]["generate"] == {"type": "prompt", "prompt": "Cluster token"}


def test_definition_hash_follows_the_definition_not_the_prompt_text():
    assert definition_hash({"type": "hex", "bytes": 32}) == definition_hash({"bytes": 32, "type": "hex"})
    assert definition_hash({"type": "hex", "bytes": 32}) != definition_hash({"type": "hex", "bytes": 16})
    assert definition_hash({"type": "prompt", "prompt": "a"}) == definition_hash({"type": "prompt", "prompt": "b"})
    assert definition_hash({"type": "hex", "bytes": 32}).startswith("sha256:")


@pytest.mark.parametrize("credentials,path,match", [
    ({"c": {"scope": "cluster", "generate": {"type": "hex"}}}, "c.scope", "must be one of instance, shared"),
    ({"c": {"shared_name": "x", "generate": {"type": "hex"}}}, "c.shared_name", "applies to scope shared only"),
    ({"c": {"scope": "shared", "src": "f"}}, "c.scope", "shared needs generate or prompt"),
    ({"c": {"scope": "shared", "shared_name": "../x", "generate": {"type": "hex"}}}, "c.shared_name", "must be a name"),
    ({"c": {"max_age": "90", "generate": {"type": "hex"}}}, "c.max_age", "must be a duration"),
    ({"c": {"max_age": "90d", "src": "f"}}, "c.max_age", "applies to generated or prompted credentials only"),
    ({"c": {"regenerate_on_change": "yes", "generate": {"type": "hex"}}}, "c.regenerate_on_change", "must be true or false"),
    ({"c": {"renew_before": "1d", "generate": {"type": "hex"}}}, "c.renew_before", "applies to generate.type tls or ca only"),
    ({"c": {"renew_before": "30d", "generate": {"type": "tls", "days": 30}}}, "c.renew_before", "must be shorter than"),
    ({"c": {"not_after": "30d", "generate": {"type": "hex"}}}, "c.not_after", "needs a shorter max_age"),
    ({"c": {"not_after": "30d", "max_age": "30d", "generate": {"type": "hex"}}}, "c.not_after", "needs a shorter max_age"),
    ({"c": {"not_after": "30", "max_age": "20d", "generate": {"type": "hex"}}}, "c.not_after", "must be a duration"),
    ({"c": {"max_age": "999999999w", "generate": {"type": "hex"}}}, "c.max_age", "must be at most 100 years"),
    ({"c": {"renew_before": "999999999w", "generate": {"type": "tls"}}}, "c.renew_before", "must be at most 100 years"),
    ({"c": {"not_after": "999999999w", "max_age": "20d", "generate": {"type": "hex"}}}, "c.not_after", "must be at most 100 years"),
    ({"c": {"prompt": "", }}, "c.prompt", "one line of 1 to 200"),
    ({"c": {"prompt": "a\nb"}}, "c.prompt", "one line of 1 to 200"),
    ({"c": {"prompt": "x", "generate": {"type": "hex"}}}, "c", "set exactly one of generate, src or prompt"),
    ({"pw": {"generate": {"type": "password"}}, "c": {"scope": "shared", "generate": {"type": "passlib", "password_of": "pw"}}},
     "c.scope", "its input pw has scope instance"),
    ({"a": {"scope": "shared", "shared_name": "x", "generate": {"type": "hex"}},
      "b": {"scope": "shared", "shared_name": "x", "generate": {"type": "hex"}}}, "b.shared_name", "x is also the shared name of credential a"),
])
def test_bad_policies_name_the_variable(credentials, path, match):
    with pytest.raises(ConfigError, match=r"^%s\.%s: .*%s" % (PATH.replace(".", r"\."), path.replace(".", r"\."), match)):
        creds(**credentials)


def test_an_instance_credential_may_be_made_from_a_shared_one():
    got = creds(ca={"scope": "shared", "inject": False, "generate": {"type": "ca"}}, cert={"generate": {"type": "tls", "ca": "ca"}})
    assert got["cert"]["scope"] == "instance"


def instances(web_spec, db_spec):
    return {"web": {"kernel": "/k", "credentials": web_spec}, "db": {"kernel": "/k", "credentials": db_spec}}


def test_one_shared_secret_in_two_instances_has_one_definition():
    same = {"tok": {"scope": "shared", "generate": {"type": "hex"}}}
    renamed = {"token": {"name": "tok", "scope": "shared", "shared_name": "tok", "generate": {"type": "hex"}}}
    normalize_instances(instances(same, renamed))
    with pytest.raises(ConfigError, match=r"^microvm_instances\.web\.credentials\.tok: defines shared secret tok differently "
                                          r"from microvm_instances\.db\.credentials\.token"):
        normalize_instances(instances(same, {"token": {"scope": "shared", "shared_name": "tok", "generate": {"type": "hex", "bytes": 8}}}))


def test_shared_inputs_are_compared_by_shared_name():
    def spec(pw_id):
        return {pw_id: {"scope": "shared", "shared_name": "pw", "inject": False, "generate": {"type": "password"}},
                "hash": {"scope": "shared", "generate": {"type": "passlib", "password_of": pw_id}}}
    normalize_instances(instances(spec("pw"), spec("root-pw")))
