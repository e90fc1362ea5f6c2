"""Recipients checked before anything changes, the rekey, and the shared store's recipients from hostvars."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import subprocess

import pytest

from ansible_collections.microvm.credentials.plugins.plugin_utils._actions.backend_options import (
    backend_options,
    shared_by_name,
    shared_consumers,
)
from ansible_collections.microvm.credentials.plugins.plugin_utils._store import recipients as R
from ansible_collections.microvm.credentials.plugins.plugin_utils._store import sops as S
from ansible_collections.microvm.credentials.plugins.plugin_utils._store.backend import StoreError
from ansible_collections.microvm.credentials.plugins.plugin_utils._store.location import Slot
from ansible_collections.microvm.credentials.plugins.plugin_utils._store.store import Store


def _tools():
    missing = [t for t in ("age-keygen",) if not shutil.which(t)] + ([] if S.find_binary() else ["sops"])
    if missing and os.environ.get("CI") == "true":
        pytest.fail("CI must have %s (make deps installs them)" % ", ".join(missing))
    return missing


real = pytest.mark.skipif(bool(_tools()), reason="sops or age-keygen missing: run make deps")


def test_shared_recipients_from_hostvars():
    creds = {"tok": {"scope": "shared", "generate": {"type": "hex"}}, "db": {"generate": {"type": "hex"}}}
    instances = {"web": {"kernel": "/k", "credentials": creds}}
    hostvars = {
        "a": {"microvm_instances": instances, "microvm_credentials_sops_recipients": ["age1a"],
              "microvm_credentials_sops_admins": ["age1adm"]},
        "b": {"microvm_instances": instances, "microvm_credentials_sops_recipients": ["age1b"]},
        "c": {"microvm_instances": {"web": {"kernel": "/k", "credentials": {"db": {"generate": {"type": "hex"}}}}},
              "microvm_credentials_sops_recipients": ["age1c"]},
        "bad": {"microvm_instances": {"web": {"credentials": {"x": {}}}}, "microvm_credentials_sops_recipients": ["age1x"]},
        "none": {},
    }
    consumers = shared_consumers(hostvars, lambda v: v)
    assert sorted(consumers) == ["a", "b", "c"]  # "bad" is left to its own run
    assert shared_by_name(consumers, ["age1root"]) == {"tok": ["age1a", "age1adm", "age1b", "age1root"]}
    options = backend_options({"sops_recipients": ["age1h"], "sops_admins": ["age1adm"], "vault_id": "v"}, "var", [], {"tok": ["x"]})
    assert options["age_recipients"] == ["age1adm", "age1h"] and options["vault_id"] == "v"
    assert options["age_recipients_by_name"] == {"tok": ["x"]} and options["config"] is None


@pytest.fixture
def keys(tmp_path, monkeypatch):
    found = {}
    for name in ("a", "b"):
        path = str(tmp_path / (name + ".key"))
        subprocess.run(["age-keygen", "-o", path], check=True, capture_output=True)
        found[name] = subprocess.run(["age-keygen", "-y", path], check=True, capture_output=True, text=True).stdout.strip()
        found[name + "_file"] = path
    for var in ("SOPS_AGE_KEY", "SOPS_AGE_KEY_CMD", "SOPS_AGE_SSH_PRIVATE_KEY_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", found["a_file"])
    return found


@real
def test_other_recipients_stop_the_run_until_rekey(tmp_path, keys):
    old = Store(str(tmp_path / "st"), S.SopsBackend({"age_recipients": [keys["a"]]}))
    old.save("web", "db", b"v1")
    old.save("web", "api", b"v2")
    data = open(old.path("web", "db"), "rb").read()
    new = Store(str(tmp_path / "st"), S.SopsBackend({"age_recipients": [keys["a"], keys["b"]]}))
    slots = [Slot(new, "web", "db", "web/db"), Slot(new, "web", "api", "web/api"), Slot(new, "web", "nope", "web/nope")]
    assert [s.label for s, dummy, dummy in R.stale(slots)] == ["web/db", "web/api"]
    with pytest.raises(StoreError, match=r"^microvm_credentials_store: .*web/db\.sops is encrypted to %s, but the "
                                         r"configuration wants %s \(2 such files\): re-encrypt them with "
                                         r"-e microvm_credentials_rekey=true$" % (keys["a"], ", ".join(sorted([keys["a"], keys["b"]])))):
        R.check(slots, False, "host web")
    found = R.check(slots, True, "host web")
    assert R.rekey(found, check_mode=True) == ["web/db", "web/api"]
    assert open(old.path("web", "db"), "rb").read() == data  # check mode wrote nothing
    assert R.rekey(found, check_mode=False) == ["web/db", "web/api"]
    assert R.stale(slots) == []
    assert new.load("web", "db") == b"v1" and new.load("web", "api") == b"v2"


@real
def test_no_key_for_a_host_stops_the_run(tmp_path, keys, monkeypatch):
    store = Store(str(tmp_path / "st"), S.SopsBackend({"age_recipients": [keys["b"]]}))
    store.save("web", "db", b"v1")
    with pytest.raises(StoreError, match=r"^microvm_credentials_sops_recipients: no age key of yours opens "
                                         r".*web/db\.sops \(needed for host b\): it is encrypted to %s\." % keys["b"]):
        R.check([Slot(store, "web", "db", "web/db")], False, "needed for host b")
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", keys["b_file"])
    store = Store(str(tmp_path / "st"), S.SopsBackend({"age_recipients": [keys["b"]]}))  # a new run
    assert R.check([Slot(store, "web", "db", "web/db")], False, "needed for host b") == []
