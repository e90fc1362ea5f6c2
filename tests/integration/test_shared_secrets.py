"""Shared secrets on two hosts in one run (forks=2): one value, made once under the shared
store's lock; a rotation makes one new value and re-encrypts it for every consumer on both
hosts (changed_instances, which the role restarts). A prompted shared secret answered from
microvm_prompt_answers. An instance credential with not_after, refused by the host after then.

The instances do not start (autostart: false, credentials entry point): what a guest would
get is the host's encrypted credential, read back with systemd-creds decrypt.
"""

import copy
import datetime
import json
import os

import pytest
import yaml
from harness import instance, running_host

PLAYBOOK = "tests/integration/playbooks/shared_secrets.yml"
# Slow to make, so that the two forks overlap: without the shared store's lock both would make one.
TOKEN = {"name": "cluster.token", "scope": "shared", "shared_name": "cluster",
         "generate": {"type": "command", "argv": ["sh", "-c", "sleep 3; od -An -N16 -tx1 /dev/urandom | tr -d ' \\n'"]}}
JOIN = {"name": "join.key", "scope": "shared", "prompt": "Cluster join key"}
# The host refuses it two days after it was made (systemd-creds encrypt --not-after).
EXPIRING = {"name": "expiring", "max_age": "1d", "not_after": "2d", "generate": {"type": "hex"}}


def group_vars():
    spec = {"token": TOKEN, "join": JOIN, "expiring": EXPIRING}
    return {"microvm_instances": {"web": instance("web", spec, autostart=False), "db": instance("db", spec, autostart=False)}}


@pytest.fixture(scope="module")
def hosts(request, tmp_path_factory):
    with running_host(request, tmp_path_factory) as hv1, running_host(request, tmp_path_factory) as hv2:
        # One inventory (hv1's) for both hosts, as a real inventory would be.
        with open(os.path.join(hv1.tmp, "answers.yml"), "w") as f:
            yaml.safe_dump({"microvm_prompt_answers": {"shared:join": "typed-once"}}, f)
        hv1.write_inventory(group_vars())
        with open(os.path.join(hv1.inventory, "hosts.yml"), "w") as f:
            yaml.safe_dump({"microvm_hosts": {"hosts": dict((h.name, h.connection_vars()) for h in (hv1, hv2))}}, f)
        yield hv1, hv2


def run(hv1, tmp_path, *args):
    proc = hv1.converge(None, "--forks", "2", "-e", "out_dir=%s" % tmp_path, "-e", "@" + os.path.join(hv1.tmp, "answers.yml"),
                        *args, playbook=PLAYBOOK)
    return proc, lambda host: json.loads((tmp_path / (host.name + ".json")).read_text())


def shared_values(hv1):
    from ansible.parsing.vault import VaultLib, VaultSecret
    with open(hv1.vault_password_file, "rb") as f:
        lib = VaultLib([("default", VaultSecret(f.read().strip()))])
    root = os.path.join(hv1.inventory, ".microvm-credentials-shared")
    return dict((name[:-len(".vault")], lib.decrypt(open(os.path.join(root, name), "rb").read()))
                for name in sorted(os.listdir(root)) if name.endswith(".vault"))


def on_host(host, inst, name):
    return host.sh("systemd-creds decrypt --name=%s /var/lib/microvm-credentials/%s/%s.cred -" % (name, inst, name), binary=True)


def test_one_value_for_both_hosts_and_all_instances(hosts, tmp_path):
    hv1, hv2 = hosts
    proc, result = run(hv1, tmp_path)
    values = shared_values(hv1)
    assert values["join"] == b"typed-once" and len(values["cluster"]) == 32
    for host in (hv1, hv2):
        for inst in ("web", "db"):
            assert on_host(host, inst, "cluster.token") == values["cluster"]
            assert on_host(host, inst, "join.key") == b"typed-once"
        assert not os.path.exists(os.path.join(host.store, "web", "token.vault"))
    # Exactly one of the two runs made each shared secret.
    generated = result(hv1)["generated"] + result(hv2)["generated"]
    assert sorted(g for g in generated if g.startswith("shared:")) == ["shared:cluster", "shared:join"]
    meta = json.loads(open(os.path.join(hv1.inventory, ".microvm-credentials-shared", "cluster.meta")).read())
    assert meta["generator"] == "command" and meta["reason"] == "created" and meta["definition"].startswith("sha256:")


def test_rotating_a_shared_secret_reaches_every_consumer_on_both_hosts(hosts, tmp_path):
    hv1, hv2 = hosts
    before = shared_values(hv1)
    proc, result = run(hv1, tmp_path, "-e", json.dumps({"microvm_rotate": ["shared:cluster"]}))
    after = shared_values(hv1)
    assert after["cluster"] != before["cluster"] and after["join"] == before["join"]
    rotated = [result(h)["rotated"] for h in (hv1, hv2)]
    assert sorted(rotated, key=len) == [{}, {"shared:cluster": "rotate"}], proc.stdout[-3000:]
    for host in (hv1, hv2):
        assert sorted(result(host)["changed_instances"]) == ["db", "web"]
        for inst in ("web", "db"):
            assert on_host(host, inst, "cluster.token") == after["cluster"]
    # The next run changes nothing anywhere.
    proc, result = run(hv1, tmp_path)
    assert [result(h)["changed_instances"] for h in (hv1, hv2)] == [[], []] and shared_values(hv1) == after


def test_not_after_makes_the_host_refuse_the_credential_after_then(hosts):
    hv1, dummy = hosts
    meta = json.loads(open(os.path.join(hv1.store, "web", "expiring.meta")).read())
    made = datetime.datetime.strptime(meta["rotated"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    end = int(made.timestamp()) + 2 * 86400
    path = "/var/lib/microvm-credentials/web/expiring.cred"
    assert hv1.sh("systemd-creds decrypt --name=expiring --timestamp=@%d %s - >/dev/null && echo ok" % (end - 60, path)).strip() == "ok"
    refused = hv1.sh("systemd-creds decrypt --name=expiring --timestamp=@%d %s - 2>&1; echo rc=$?" % (end + 60, path), check=False)
    assert "rc=1" in refused, refused


def audit(hv1, *args):
    proc = hv1.converge(None, *args, playbook="playbooks/audit.yml", env={"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json"})
    out = json.loads(proc.stdout[proc.stdout.index("{"):])
    return [t["hosts"] for p in out["plays"] for t in p["tasks"] if t["task"]["name"] == "Audit the credentials of this host"][0]


def test_the_audit_finds_shared_secrets_and_prunes_only_unclaimed_ones(hosts, tmp_path):
    hv1, hv2 = hosts
    run(hv1, tmp_path)
    shared = os.path.join(hv1.inventory, ".microvm-credentials-shared")
    # A shared secret no host claims any more (as after removing its last consumer).
    with open(os.path.join(shared, "cluster.vault"), "rb") as src, open(os.path.join(shared, "ghost.vault"), "wb") as dst:
        dst.write(src.read())
    results = audit(hv1)
    for host in (hv1, hv2):
        rows = dict(((r["instance"], r["id"]), r) for r in results[host.name]["credentials"])
        for inst in ("web", "db"):
            assert rows[(inst, "token")]["host"] == rows[(inst, "join")]["host"] == "in-sync"
            assert rows[(inst, "token")]["rotated"] is not None and rows[(inst, "token")]["fingerprint"].startswith("hmac:")
        assert results[host.name]["orphaned"] == ["shared:ghost"]
        assert results[host.name]["prune"] == [os.path.join(shared, "ghost.vault")]
    audit(hv1, "-e", "microvm_prune_store=true")
    assert sorted(os.listdir(shared)) == [".token-key", "cluster.meta", "cluster.vault", "join.meta", "join.vault"]


def state(hv1, hv2):
    """Both hosts, both host stores and every file of the shared store (metadata included)."""
    root = os.path.join(hv1.inventory, ".microvm-credentials-shared")
    shared = dict((name, open(os.path.join(root, name), "rb").read()) for name in sorted(os.listdir(root)))
    return [hv1.snapshot(), hv2.snapshot(), hv1.vault_values(), hv2.vault_values(), shared]


def test_a_shared_secret_declared_differently_on_two_hosts_is_refused(hosts, tmp_path):
    """One definition per shared name on every host of a run (forks=2) and across runs (the shared
    store's metadata records each host's declaration): refused before anything changes, naming both."""
    hv1, hv2 = hosts
    before = state(hv1, hv2)
    differing = copy.deepcopy(group_vars())
    for inst in ("web", "db"):  # both of hv2's instances (one host's declarations already have to agree)
        differing["microvm_instances"][inst]["credentials"]["token"] = dict(TOKEN, regenerate_on_change=True)
    host_vars = os.path.join(hv1.inventory, "host_vars")
    os.makedirs(host_vars, exist_ok=True)
    with open(os.path.join(host_vars, hv2.name + ".yml"), "w") as f:
        yaml.safe_dump(differing, f)
    # db comes first of each host's instances: it names the declaration.
    one = "microvm_instances.db.credentials.token on %s: defines shared secret cluster differently from microvm_instances.db.credentials.token on %s"
    try:
        # Both hosts in one run: each names the other's declaration.
        proc = hv1.playbook(None, "--forks", "2", "-e", "out_dir=%s" % tmp_path, "-e", "@" + os.path.join(hv1.tmp, "answers.yml"),
                            playbook=PLAYBOOK)
        assert proc.returncode != 0
        assert one % (hv1.name, hv2.name) in proc.stdout and one % (hv2.name, hv1.name) in proc.stdout, proc.stdout[-4000:]
        assert state(hv1, hv2) == before
        # hv2 alone (a later run): hv1, outside this run, still declares it otherwise.
        proc = hv1.playbook(None, "--limit", hv2.name, "-e", "out_dir=%s" % tmp_path, "-e", "@" + os.path.join(hv1.tmp, "answers.yml"),
                            playbook=PLAYBOOK)
        assert proc.returncode != 0 and one % (hv2.name, hv1.name) in proc.stdout, proc.stdout[-4000:]
        assert state(hv1, hv2) == before
    finally:
        os.unlink(os.path.join(host_vars, hv2.name + ".yml"))
    # A host outside this inventory recorded another definition in an earlier run.
    meta_path = os.path.join(hv1.inventory, ".microvm-credentials-shared", "cluster.meta")
    meta = json.loads(open(meta_path).read())
    assert sorted(meta["declared"]) == sorted([hv1.name, hv2.name])
    meta["declared"]["hv-elsewhere"] = dict(meta["declared"][hv1.name], definition="sha256:" + "0" * 64)
    with open(meta_path, "w") as f:
        json.dump(meta, f)
    before = state(hv1, hv2)
    proc = hv1.playbook(None, "--forks", "2", "-e", "out_dir=%s" % tmp_path, "-e", "@" + os.path.join(hv1.tmp, "answers.yml"),
                        playbook=PLAYBOOK)
    assert proc.returncode != 0
    assert ("differently from microvm_instances.db.credentials.token on hv-elsewhere (recorded in the shared store by an earlier "
            "run; rotate shared:cluster") in proc.stdout, proc.stdout[-4000:]
    assert state(hv1, hv2) == before
    # Rotating it adopts this inventory's definition: the value is made anew for it.
    proc, result = run(hv1, tmp_path, "-e", json.dumps({"microvm_rotate": ["shared:cluster"]}))
    assert sorted(json.loads(open(meta_path).read())["declared"]) == sorted([hv1.name, hv2.name])


def test_prompt_answers_go_to_every_host_and_each_takes_its_own(hosts, tmp_path):
    """-e @answers.yml reaches both hosts; only hv1 prompts for web/only: hv2 ignores that answer
    (it failed with "is not a prompted credential of this host"), and its trailing newline is
    stripped as from a typed answer."""
    hv1, hv2 = hosts
    mine = group_vars()
    web = mine["microvm_instances"]["web"]  # a new credentials mapping: web and db share one
    web["credentials"] = dict(web["credentials"], only={"prompt": "Only on hv1"})
    host_vars = os.path.join(hv1.inventory, "host_vars")
    os.makedirs(host_vars, exist_ok=True)
    with open(os.path.join(host_vars, hv1.name + ".yml"), "w") as f:
        yaml.safe_dump(mine, f)
    answers = os.path.join(hv1.tmp, "answers-only.yml")
    with open(answers, "w") as f:
        yaml.safe_dump({"microvm_prompt_answers": {"shared:join": "typed-once", "web/only": "hv1-answer\n"}}, f)
    try:
        proc = hv1.converge(None, "--forks", "2", "-e", "out_dir=%s" % tmp_path, "-e", "@" + answers, playbook=PLAYBOOK)
        assert on_host(hv1, "web", "only") == b"hv1-answer"
        assert hv2.sh("test -e /var/lib/microvm-credentials/web/only.cred; echo $?", check=False).strip() == "1"
    finally:
        os.unlink(os.path.join(host_vars, hv1.name + ".yml"))
