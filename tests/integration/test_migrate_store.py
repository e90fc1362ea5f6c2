"""playbooks/migrate_store.yml moves every store of an inventory, vault to sops and back: check and diff
mode change nothing, values stay the same (plain `sops -d` and `ansible-vault view` read them), each
host's files are encrypted to its own recipients and the admins', a shared secret to the union of its
consumers'. Controller only: the hosts are local, no container is needed."""

import json
import os
import subprocess

import pytest
import yaml

from harness import ANSIBLE_PLAYBOOK, ROOT, collection_path

VALUES = {".microvm-credentials/hva/web/db": b"\x00value-of-a\n", ".microvm-credentials/hvb/web/db": b"value-of-b",
          ".microvm-credentials-shared/tok": b"shared-value"}


def _key(tmp, name):
    path = os.path.join(str(tmp), name + ".key")
    subprocess.run(["age-keygen", "-o", path], check=True, capture_output=True)
    return path, subprocess.run(["age-keygen", "-y", path], check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def inventory(tmp_path):
    keys = dict((name, _key(tmp_path, name)) for name in ("a", "b", "admin"))
    inv = tmp_path / "inventory"
    inv.mkdir()
    instances = {"web": {"kernel": "/k", "credentials": {"db": {"generate": {"type": "hex"}},
                                                         "tok": {"scope": "shared", "generate": {"type": "hex"}}}}}
    (inv / "hosts.yml").write_text(yaml.safe_dump({"microvm_hosts": {
        "hosts": {"hva": {"ansible_connection": "local", "microvm_credentials_sops_recipients": [keys["a"][1]]},
                  "hvb": {"ansible_connection": "local", "microvm_credentials_sops_recipients": [keys["b"][1]]}},
        "vars": {"microvm_credentials_sops_admins": [keys["admin"][1]], "microvm_instances": instances}}}))
    password = tmp_path / "vault-password"
    password.write_text("pw\n")
    for rel, value in VALUES.items():
        path = inv / (rel + ".vault")
        path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["ansible-vault", "encrypt", "--vault-password-file", str(password), "--output", str(path), "-"],
                       input=value, check=True, capture_output=True)
    return inv, password, keys


def run(inv, password, key_file, *args):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collection_path(), ANSIBLE_FORCE_COLOR="0")
    env.pop("SOPS_AGE_KEY", None)
    if key_file:
        env["SOPS_AGE_KEY_FILE"] = key_file
    else:
        env.pop("SOPS_AGE_KEY_FILE", None)
    env["HOME"] = str(inv.parent)  # no key of the machine's user takes part
    return subprocess.run([ANSIBLE_PLAYBOOK, "-i", str(inv), os.path.join(ROOT, "playbooks", "migrate_store.yml"),
                           "--vault-password-file", str(password)] + list(args), env=env, capture_output=True, text=True, check=False)


def snapshot(inv):
    return dict((os.path.relpath(os.path.join(d, f), str(inv)), open(os.path.join(d, f), "rb").read())
                for d, dummy, fs in os.walk(str(inv)) for f in fs if not f.endswith(".lock"))


def sops_recipients(path):
    with open(path) as f:
        return sorted(k["recipient"] for k in json.load(f)["sops"]["age"])


def test_vault_to_sops_and_back(inventory):
    inv, password, keys = inventory
    admin_file = keys["admin"][0]
    before = snapshot(inv)

    out = run(inv, password, admin_file, "--check", "--diff")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "+++ after: %s" % (inv / ".microvm-credentials/hva/web/db.sops") in out.stdout
    assert snapshot(inv) == before
    for value in VALUES.values():
        assert value.strip(b"\x00\n").decode() not in out.stdout + out.stderr

    out = run(inv, password, admin_file)
    assert out.returncode == 0, out.stdout + out.stderr
    assert sorted(snapshot(inv)) == sorted(p.replace(".vault", ".sops") for p in before)
    sops = [os.path.join(ROOT, ".venv", "bin", "sops")] if os.path.exists(os.path.join(ROOT, ".venv", "bin", "sops")) else ["sops"]
    for rel, value in VALUES.items():
        shown = subprocess.run(sops + ["-d", str(inv / (rel + ".sops"))], env=dict(os.environ, SOPS_AGE_KEY_FILE=admin_file),
                               check=True, capture_output=True).stdout
        assert shown == value
    assert sops_recipients(inv / ".microvm-credentials/hva/web/db.sops") == sorted([keys["a"][1], keys["admin"][1]])
    assert sops_recipients(inv / ".microvm-credentials/hvb/web/db.sops") == sorted([keys["b"][1], keys["admin"][1]])
    assert sops_recipients(inv / ".microvm-credentials-shared/tok.sops") == sorted(k[1] for k in keys.values())

    out = run(inv, password, admin_file)
    assert out.returncode == 0 and "changed=0" in out.stdout, out.stdout + out.stderr

    # Back, by an operator who holds only host a's key: host b's store (and the shared one, which
    # hvb's run does not reach) stop before anything changes, with the file and its recipients named.
    moved = snapshot(inv)
    out = run(inv, password, keys["a"][0], "-e", "microvm_migrate_from=sops", "-e", "microvm_migrate_to=vault", "--limit", "hvb")
    assert out.returncode != 0
    assert "no age key of yours opens %s: it is encrypted to %s" % (
        inv / ".microvm-credentials/hvb/web/db.sops", ", ".join(sorted([keys["b"][1], keys["admin"][1]]))) in out.stdout
    assert snapshot(inv) == moved

    out = run(inv, password, admin_file, "-e", "microvm_migrate_from=sops", "-e", "microvm_migrate_to=vault")
    assert out.returncode == 0, out.stdout + out.stderr
    assert sorted(snapshot(inv)) == sorted(before)
    for rel, value in VALUES.items():
        shown = subprocess.run(["ansible-vault", "decrypt", "--vault-password-file", str(password), "--output", "-",
                                str(inv / (rel + ".vault"))],
                               check=True, capture_output=True).stdout
        assert shown == value
