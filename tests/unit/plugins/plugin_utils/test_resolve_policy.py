"""Shared, prompted, changed, aged and expiring secrets (see _resolve), and their metadata."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import functools
import hashlib
import json
import os


from ansible.parsing.vault import VaultSecret

from ansible_collections.microvm.credentials.plugins.plugin_utils._generators import keypairs as _keypairs
from ansible_collections.microvm.credentials.plugins.plugin_utils._schema.instances import normalize_instances
from ansible_collections.microvm.credentials.plugins.plugin_utils._resolve import Context, persist, resolve
from ansible_collections.microvm.credentials.plugins.plugin_utils._schema.shared import declarations, record
from ansible_collections.microvm.credentials.plugins.plugin_utils._store.store import format_time
from ansible_collections.microvm.credentials.plugins.plugin_utils._store.vault import VaultStore

SECRETS = [("default", VaultSecret(b"pw"))]
T0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)


def instances(**by_name):
    return normalize_instances(dict((name, {"kernel": "/k", "credentials": creds}) for name, creds in by_name.items()))


class Host:
    """One host's run: its own store, the shared store of the inventory."""

    def __init__(self, tmp_path, name, shared="shared"):
        self.store = VaultStore(str(tmp_path / name), SECRETS)
        self.shared = VaultStore(str(tmp_path / shared), SECRETS)
        self.asked = []

    def run(self, insts, rotate=(), now=T0, run="run-1", answers=None, declared=None):
        def ask(label, path, text):
            self.asked.append((label, path, text))
            return (answers or {}).get(label, b"typed")
        ctx = Context(self.store, self.shared, lambda label: label in rotate, lambda src, path: b"src", ask, now, run)
        ctx.declared = declared or {}
        results = dict((i["name"], resolve(i, "microvm_instances.%s.credentials" % i["name"], ctx)) for i in insts)
        persist(ctx)
        return ctx, results


TOKEN = {"token": {"scope": "shared", "shared_name": "cluster", "generate": {"type": "hex"}}}


def test_a_shared_secret_is_one_value_for_all_instances_and_hosts(tmp_path):
    hv1, hv2 = Host(tmp_path, "hv1"), Host(tmp_path, "hv2")
    ctx1, res1 = hv1.run(instances(web=TOKEN, db=TOKEN))
    ctx2, res2 = hv2.run(instances(app=TOKEN))
    assert res1["web"].values["token"] == res1["db"].values["token"] == res2["app"].values["token"]
    assert ctx1.reasons == {"shared:cluster": "created"} and ctx2.reasons == {}
    assert sorted(os.listdir(str(tmp_path / "shared"))) == [".token-key", "cluster.meta", "cluster.vault"]
    assert not os.path.exists(str(tmp_path / "hv1" / "web"))


def declared_by(host):
    declaration = declarations(host, instances(web=TOKEN), "microvm_instances")["cluster"]
    return {"shared:cluster": functools.partial(record, declaration=declaration)}


def test_each_hosts_declaration_of_a_shared_secret_is_recorded(tmp_path):
    hv1, hv2 = Host(tmp_path, "hv1"), Host(tmp_path, "hv2")
    meta_path = tmp_path / "shared" / "cluster.meta"
    hv1.run(instances(web=TOKEN))  # a store of before: no declaration recorded
    assert "declared" not in json.loads(meta_path.read_text())
    hv2.run(instances(web=TOKEN), run="run-2", declared=declared_by("hv2"))  # kept: recorded
    hv1.run(instances(web=TOKEN), run="run-2", declared=declared_by("hv1"))
    assert sorted(json.loads(meta_path.read_text())["declared"]) == ["hv1", "hv2"]
    hv1.run(instances(web=TOKEN), rotate=["shared:cluster"], run="run-3", declared=declared_by("hv1"))  # made anew: hv1's alone
    meta = json.loads(meta_path.read_text())
    assert sorted(meta["declared"]) == ["hv1"] and meta["reason"] == "rotate"
    assert meta["declared"]["hv1"] == {"instance": "web", "credential": "token", "definition": meta["declared"]["hv1"]["definition"]}


def test_rotating_a_shared_secret_makes_one_new_value_per_run(tmp_path):
    hv1, hv2 = Host(tmp_path, "hv1"), Host(tmp_path, "hv2")
    ctx, first = hv1.run(instances(web=TOKEN), run="run-1")
    ctx1, res1 = hv1.run(instances(web=TOKEN), rotate=["shared:cluster"], run="run-2")
    ctx2, res2 = hv2.run(instances(app=TOKEN), rotate=["shared:cluster"], run="run-2")
    assert ctx1.reasons == {"shared:cluster": "rotate"} and ctx2.reasons == {}
    assert res1["web"].values["token"] == res2["app"].values["token"] != first["web"].values["token"]
    ctx3, dummy = hv2.run(instances(app=TOKEN), rotate=["shared:cluster"], run="run-3")
    assert ctx3.reasons == {"shared:cluster": "rotate"}


def test_an_instance_certificate_follows_a_shared_ca_rotated_by_another_host(tmp_path):
    spec = {"ca": {"scope": "shared", "inject": False, "generate": {"type": "ca"}},
            "cert": {"generate": {"type": "tls", "dns": ["web"], "ca": "ca"}}}
    hv1, hv2 = Host(tmp_path, "hv1"), Host(tmp_path, "hv2")
    hv1.run(instances(web=spec), now=T0)
    hv2.run(instances(web=spec), now=T0)
    ctx1, res1 = hv1.run(instances(web=spec), rotate=["shared:ca"], now=T0 + datetime.timedelta(days=1), run="run-2")
    assert ctx1.reasons == {"shared:ca": "rotate", "web/cert": "input"}
    ctx2, res2 = hv2.run(instances(web=spec), now=T0 + datetime.timedelta(days=2), run="run-3")
    assert ctx2.reasons == {"web/cert": "input"}
    assert res2["web"].values["ca"] == res1["web"].values["ca"]
    assert not _keypairs.certificate_matches_key(res2["web"].public["cert"], res1["web"].values["cert"])


def test_metadata_records_generator_definition_and_times_never_the_value(tmp_path):
    hv1 = Host(tmp_path, "hv1")
    ctx, res = hv1.run(instances(web={"a": {"generate": {"type": "hex"}}}))
    meta = json.loads((tmp_path / "hv1" / "web" / "a.meta").read_text())
    assert meta == {"version": 1, "generator": "hex", "definition": meta["definition"], "created": format_time(T0),
                    "rotated": format_time(T0), "reason": "created", "run": "run-1",
                    # what the SMBIOS checks need without the value, and a keyed record of what it was checked against
                    "size": 64, "text": True, "check": meta["check"]}
    assert res["web"].values["a"].decode() not in json.dumps(meta)
    assert len(meta["check"]) == 64 and hashlib.sha256(res["web"].values["a"]).hexdigest() not in json.dumps(meta)
    assert oct(os.stat(str(tmp_path / "hv1" / "web" / "a.meta")).st_mode & 0o777) == "0o600"
    later = T0 + datetime.timedelta(days=3)
    hv1.run(instances(web={"a": {"generate": {"type": "hex"}}}), rotate=["web/a"], now=later, run="run-2")
    meta = json.loads((tmp_path / "hv1" / "web" / "a.meta").read_text())
    assert (meta["created"], meta["rotated"], meta["reason"]) == (format_time(T0), format_time(later), "rotate")


def test_a_store_without_metadata_gets_it_recorded_without_warning(tmp_path):
    hv1 = Host(tmp_path, "hv1")
    hv1.store.save("web", "a", b"00ff")
    os.utime(hv1.store.path("web", "a"), (1700000000, 1700000000))
    ctx, res = hv1.run(instances(web={"a": {"generate": {"type": "hex"}}}))
    assert res["web"].values["a"] == b"00ff" and ctx.reasons == {} and ctx.warnings == []
    meta = hv1.store.load_meta("web", "a")
    assert meta["estimated"] is True and meta["created"] == "2023-11-14T22:13:20.000000Z" and meta["definition"].startswith("sha256:")
    ctx, dummy = hv1.run(instances(web={"a": {"generate": {"type": "hex"}}}))
    assert ctx.writes == {}  # recorded once


def test_a_changed_definition_warns_and_keeps_the_value(tmp_path):
    hv1 = Host(tmp_path, "hv1")
    ctx, first = hv1.run(instances(web={"k": {"generate": {"type": "ssh"}}}))
    changed = instances(web={"k": {"generate": {"type": "ssh", "key_type": "ecdsa"}}})
    for dummy in range(2):  # the warning repeats until the secret is made anew
        ctx, res = hv1.run(changed)
        assert res["web"].values["k"] == first["web"].values["k"] and ctx.reasons == {}
        assert ctx.warnings == ["microvm_instances.web.credentials.k: its generator definition changed since the stored value was made; "
                                "the stored value is kept. Make it anew with -e '{\"microvm_rotate\": [\"web/k\"]}', "
                                "or set regenerate_on_change: true"]
    ctx, res = hv1.run(changed, rotate=["web/k"], run="run-2")
    assert res["web"].public["k"].startswith(b"ecdsa-sha2-nistp256 ")
    ctx, dummy = hv1.run(changed, run="run-3")
    assert ctx.warnings == []


def test_regenerate_on_change_makes_it_anew(tmp_path):
    hv1 = Host(tmp_path, "hv1")
    ctx, first = hv1.run(instances(web={"k": {"regenerate_on_change": True, "generate": {"type": "hex"}}}))
    ctx, res = hv1.run(instances(web={"k": {"regenerate_on_change": True, "generate": {"type": "hex", "bytes": 8}}}))
    assert ctx.reasons == {"web/k": "definition"} and len(res["web"].values["k"]) == 16 and ctx.warnings == []


def test_max_age(tmp_path):
    hv1 = Host(tmp_path, "hv1")
    spec = instances(web={"k": {"max_age": "90d", "generate": {"type": "hex"}}})
    hv1.run(spec)
    ctx, dummy = hv1.run(spec, now=T0 + datetime.timedelta(days=89, hours=23))
    assert ctx.reasons == {}
    ctx, dummy = hv1.run(spec, now=T0 + datetime.timedelta(days=90))
    assert ctx.reasons == {"web/k": "max_age"}
    ctx, dummy = hv1.run(spec, now=T0 + datetime.timedelta(days=91))
    assert ctx.reasons == {}


def test_max_age_of_a_store_without_metadata_counts_from_the_vault_file(tmp_path):
    hv1 = Host(tmp_path, "hv1")
    hv1.store.save("web", "k", b"00")
    os.utime(hv1.store.path("web", "k"), (T0.timestamp(), T0.timestamp()))
    ctx, dummy = hv1.run(instances(web={"k": {"max_age": "1d", "generate": {"type": "hex"}}}), now=T0 + datetime.timedelta(days=2))
    assert ctx.reasons == {"web/k": "max_age"}


def test_certificates_are_renewed_before_their_end(tmp_path):
    hv1 = Host(tmp_path, "hv1")
    now = datetime.datetime.now(datetime.timezone.utc)
    spec = instances(web={"c": {"renew_before": "7d", "generate": {"type": "tls", "days": 10}}})
    ctx, first = hv1.run(spec, now=now)
    ctx, dummy = hv1.run(spec, now=now + datetime.timedelta(days=2))
    assert ctx.reasons == {}
    ctx, res = hv1.run(spec, now=now + datetime.timedelta(days=4))
    assert ctx.reasons == {"web/c": "renew"} and res["web"].values["c"] != first["web"].values["c"]


def test_a_shared_prompt_asks_once_and_is_stored(tmp_path):
    spec = {"tok": {"scope": "shared", "prompt": "Cluster join token"}}
    hv1, hv2 = Host(tmp_path, "hv1"), Host(tmp_path, "hv2")
    ctx, res = hv1.run(instances(web=spec, db=spec))
    hv2.run(instances(app=spec))
    assert hv1.asked == [("shared:tok", "microvm_instances.db.credentials.tok.prompt", "Cluster join token")] and hv2.asked == []
    assert res["web"].values["tok"] == res["db"].values["tok"] == b"typed" == hv2.shared.load(None, "tok")
    ctx, dummy = hv1.run(instances(web=dict(spec, tok={"scope": "shared", "prompt": "Reworded"})))
    assert hv1.asked[1:] == [] and ctx.warnings == []


def test_a_prompted_hash_input(tmp_path):
    hv1 = Host(tmp_path, "hv1")
    ctx, res = hv1.run(instances(web={"pw": {"inject": False, "prompt": "Root password"},
                                      "hash": {"generate": {"type": "passlib", "password_of": "pw"}}}), answers={"web/pw": b"secret"})
    assert res["web"].values["hash"].startswith(b"$6$") and sorted(ctx.reasons) == ["web/hash", "web/pw"]


def test_not_after_counts_from_when_the_value_was_made(tmp_path):
    hv1 = Host(tmp_path, "hv1")
    spec = instances(web={"k": {"max_age": "30d", "not_after": "45d", "generate": {"type": "hex"}}})
    dummy, res = hv1.run(spec)
    assert res["web"].not_after == {"k": T0 + datetime.timedelta(days=45)}
    dummy, res = hv1.run(spec, now=T0 + datetime.timedelta(days=10))
    assert res["web"].not_after == {"k": T0 + datetime.timedelta(days=45)}
    ctx, res = hv1.run(spec, now=T0 + datetime.timedelta(days=31))
    assert ctx.reasons == {"web/k": "max_age"} and res["web"].not_after == {"k": T0 + datetime.timedelta(days=76)}


def test_a_shared_secret_checked_by_one_host_is_not_decrypted_by_the_next(tmp_path):
    hv1, hv2 = Host(tmp_path, "hv1"), Host(tmp_path, "hv2")
    spec = {"pw": {"scope": "shared", "shared_name": "pw", "inject": False, "generate": {"type": "password"}},
            "hash": {"scope": "shared", "shared_name": "hash", "generate": {"type": "passlib", "password_of": "pw"}}}
    hv1.run(instances(web=spec))
    hv2.run(instances(app=spec))
    hv1.shared.decryptions = hv2.shared.decryptions = 0
    hv1.run(instances(web=spec))
    hv2.run(instances(app=spec))
    # The check records are keyed by the shared store's key, the same for every host.
    assert hv1.shared.decryptions == hv2.shared.decryptions == 0
