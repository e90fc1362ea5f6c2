from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.microvm.credentials.plugins.plugin_utils._schema.instances import normalize_instances
from ansible_collections.microvm.credentials.plugins.plugin_utils._schema.shared import check_hosts, check_recorded, declarations, record
from ansible_collections.microvm.credentials.plugins.plugin_utils._schema.checks import ConfigError

VAR = "microvm_instances"


def declared(host, instance, **credentials):
    return declarations(host, normalize_instances({instance: {"kernel": "/k", "credentials": credentials}}, VAR), VAR)


def token(nbytes=16, **policy):
    return dict({"scope": "shared", "shared_name": "cluster", "generate": {"type": "hex", "bytes": nbytes}}, **policy)


def test_the_same_definition_on_every_host_passes():
    # Ids and instances may differ; inputs are compared by shared name.
    ca = {"scope": "shared", "shared_name": "ca", "inject": False, "generate": {"type": "ca"}}
    mine = declared("hv1", "web", tok=token(), ca=ca)
    theirs = declared("hv2", "db", other=token(), ca=ca)
    check_hosts(mine, {"hv2": theirs, "hv3": {}})
    assert sorted(mine) == ["ca", "cluster"] and mine["cluster"].definition == theirs["cluster"].definition


@pytest.mark.parametrize("other", [token(32), token(16, regenerate_on_change=True), token(16, max_age="30d"),
                                   {"scope": "shared", "shared_name": "cluster", "generate": {"type": "password"}}])
def test_a_differing_declaration_on_another_host_names_both(other):
    with pytest.raises(ConfigError, match=r"^microvm_instances\.web\.credentials\.tok on hv1: defines shared secret cluster "
                                          r"differently from microvm_instances\.db\.credentials\.t2 on hv2; a shared secret has one"):
        check_hosts(declared("hv1", "web", tok=token()), {"hv2": declared("hv2", "db", t2=other)})


def test_the_metadata_records_each_hosts_declaration():
    mine, theirs = declared("hv1", "web", tok=token())["cluster"], declared("hv2", "db", t2=token(32))["cluster"]
    assert record(None, mine) == {"hv1": {"instance": "web", "credential": "tok", "definition": mine.definition}}
    assert sorted(record(record(None, theirs), mine)) == ["hv1", "hv2"]  # kept: added
    assert record(record(None, mine), mine) == record(None, mine)  # stable
    assert record("garbage", mine) == record(None, mine)


def recorded_by(*hosts_bytes):
    declared_ = None
    for host, nbytes in hosts_bytes:
        declared_ = record(declared_, declared(host, "db", t2=token(nbytes))["cluster"])
    return {"cluster": {"declared": declared_}}


def never(name):
    return False


def test_recorded_declarations_that_agree_or_speak_for_this_host():
    mine = declared("hv1", "web", tok=token())
    check_recorded(mine, {"cluster": None}, lambda host: None, never)  # nothing stored yet
    check_recorded(mine, {"cluster": {"rotated": "x"}}, lambda host: None, never)  # stored before declarations were recorded
    check_recorded(mine, recorded_by(("hv2", 16)), lambda host: None, never)  # the same definition
    check_recorded(mine, recorded_by(("hv1", 32)), lambda host: None, never)  # this host changed it: warning or regenerate
    # hv2 declared 32 bytes, but declares 16 bytes now, or no longer declares it: changed everywhere
    check_recorded(mine, recorded_by(("hv2", 32)), lambda host: declared("hv2", "db", t2=token(16)), never)
    check_recorded(mine, recorded_by(("hv2", 32)), lambda host: {}, never)
    check_recorded(mine, recorded_by(("hv2", 32)), lambda host: None, lambda name: name == "cluster")  # rotating adopts it


def test_a_recorded_declaration_of_a_host_outside_the_inventory_that_differs_names_both():
    """hv2 (from another inventory) declared 32 bytes; hv1 asks for 16."""
    with pytest.raises(ConfigError, match=r"^microvm_instances\.web\.credentials\.tok on hv1: defines shared secret cluster differently "
                                          r"from microvm_instances\.db\.credentials\.t2 on hv2 \(recorded in the shared store by an "
                                          r"earlier run; rotate shared:cluster"):
        check_recorded(declared("hv1", "web", tok=token()), recorded_by(("hv1", 16), ("hv2", 32)), lambda host: None, never)


def test_a_host_outside_this_run_that_still_declares_it_otherwise_is_named():
    """hv1 and hv2 declared 16 bytes; hv2, run alone (--limit), now asks for 32; hv1 still for 16."""
    mine = declared("hv2", "db", t2=token(32))
    with pytest.raises(ConfigError, match=r"^microvm_instances\.db\.credentials\.t2 on hv2: defines shared secret cluster differently "
                                          r"from microvm_instances\.web\.credentials\.tok on hv1; "):
        check_recorded(mine, recorded_by(("hv1", 16), ("hv2", 16)), lambda host: declared("hv1", "web", tok=token()), never)
