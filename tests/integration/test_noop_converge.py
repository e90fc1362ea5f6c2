"""A converge that changes nothing decrypts nothing and sends no secret value to the host.

The host's Python is wrapped so that every module payload Ansible pipes to it is kept in
/run (RAM) for the test to decode, and `systemd-creds` is wrapped to log its verb. The
instances are not started: only the credential path is under test here.

- first converge: the values travel (the positive control of the capture);
- rerun: one host call for the credentials, holding tokens only; no value in any form in
  any payload; no decryption on the controller (not even of the vault encrypted src file,
  whose shape the store recorded); no systemd-creds call on the host;
- a .cred deleted, or replaced by another credential's file, on the host is repaired by
  the next converge, which decrypts and sends that one value only;
- a vault encrypted src file that changed is decrypted and sent by the next converge, once.
"""

import base64
import binascii
import json
import os
import uuid

import pytest
from ansible.parsing.vault import VaultLib, VaultSecret
from harness import CAPTURING_PYTHON, PAYLOAD_CAPTURE, instance
from leak_scanner import ansiballz_parts

CREDS = {
    "pw": {"inject": False, "generate": {"type": "password"}},
    "hash": {"name": "passwd.hashed-password.root", "generate": {"type": "passlib", "password_of": "pw"}},
    "db": {"name": "db.password", "generate": {"type": "password"}},
    "key": {"name": "ssh.ed25519-host-key", "inject_public": "ssh.ed25519-host-key.pub", "generate": {"type": "ssh"}},
    "bin": {"name": "wireguard.key", "binary": True, "generate": {"type": "bytes", "bytes": 32}},
}
# A src file encrypted with ansible-vault (the run's vault password), here under the host's tmp.
VAULT_SRC = "app-token.vault"
SRC_VALUE = ("src-%s" % uuid.uuid4().hex).encode()
GROUP_VARS = {
    "microvm_start": False,
    # The test reads the action's result (json callback); values stay masked by the module's no_log.
    "microvm_secure_logging": False,
}
CAPTURE = PAYLOAD_CAPTURE
# python3-capture, and a systemd-creds that logs its verb before it runs the real one.
WRAPPERS = CAPTURING_PYTHON + r"""
cat > /usr/local/sbin/systemd-creds <<'EOS'
#!/bin/sh
echo "$1" >> %(capture)s/systemd-creds.log
exec /usr/bin/systemd-creds "$@"
EOS
chmod 0755 /usr/local/sbin/systemd-creds
""" % {"capture": CAPTURE}


def group_vars(host):
    src = dict(CREDS, vsrc={"name": "app.token", "src": os.path.join(host.tmp, VAULT_SRC)})
    return dict(GROUP_VARS, microvm_instances={"web": instance("web", src, autostart=False)})


def write_vault_src(host, value):
    with open(host.vault_password_file, "rb") as f:
        lib = VaultLib([("default", VaultSecret(f.read().strip()))])
    with open(os.path.join(host.tmp, VAULT_SRC), "wb") as f:
        f.write(lib.encrypt(value))


def forms(value):
    out = {value, binascii.hexlify(value), base64.b64encode(value)}
    return set(f for f in out if len(f) >= 8)


def credential_calls(host):
    """The _credentials of every microvm_credentials_host payload captured since the last reset."""
    calls = []
    for name in host.sh("ls %s | grep '^payload' || true" % CAPTURE).split():
        source = host.sh("cat %s/%s" % (CAPTURE, name), binary=True)
        if b"_ansiballz_main" not in source and b"ZIPDATA" not in source:
            continue
        dummy, params = ansiballz_parts(source.decode("utf-8", "replace"))
        args = json.loads(params)["ANSIBLE_MODULE_ARGS"] if params else {}
        if "_credentials" in args:
            calls.append((source, args["_credentials"]))
    return calls


def sealing(host):
    """The encrypt and decrypt calls of systemd-creds since the last reset (the host probe asks has-tpm2)."""
    calls = host.sh("cat %s/systemd-creds.log 2>/dev/null || true" % CAPTURE).split()
    return [c for c in calls if c in ("encrypt", "decrypt")]


def reset(host):
    host.sh("rm -f %s/payload.* %s/systemd-creds.log" % (CAPTURE, CAPTURE))


def converge(host, *args):
    proc = host.converge(None, *args, env={"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json"})
    data = json.loads(proc.stdout[proc.stdout.index("{"):])
    for play in data["plays"]:
        for task in play["tasks"]:
            if task["task"]["name"].endswith("Generate, store and encrypt the credentials of all instances"):
                (result,) = task["hosts"].values()
                return result, data["stats"]
    raise AssertionError("no credentials task in the output")


@pytest.fixture(scope="module")
def prepared(host):
    host.sh(WRAPPERS)
    host.prepare_disk("web")
    write_vault_src(host, SRC_VALUE)
    host.write_inventory(group_vars(host))
    inventory = host.inventory + "/hosts.yml"
    with open(inventory) as f:
        text = f.read()
    with open(inventory, "w") as f:
        f.write(text.replace("/usr/bin/python3", "/usr/local/bin/python3-capture"))
    first, dummy = converge(host)
    calls = credential_calls(host)
    return first, calls


def test_the_first_converge_sends_the_values(host, prepared):
    first, calls = prepared
    assert sorted(first["sent"]) == ["web/app.token", "web/db.password", "web/passwd.hashed-password.root", "web/ssh.ed25519-host-key",
                                     "web/ssh.ed25519-host-key.pub", "web/wireguard.key"]
    # Positive control: the capture sees values when they are sent (tokens first, then the values).
    # (The captures are named at random: which call came first is told by its content, not its name.)
    tokens_only = [creds for dummy, creds in calls if all("value" not in c for c in creds)]
    with_values = [creds for dummy, creds in calls if any("value" in c for c in creds)]
    assert len(calls) == 2 and len(tokens_only) == 1 and len(with_values) == 1 and all(c.get("value") for c in with_values[0])
    values = host.vault_values()
    assert any(base64.b64encode(values["web/db.vault"]) in source for source, dummy in calls)


def test_a_rerun_decrypts_nothing_and_sends_no_value(host, prepared):
    reset(host)
    result, stats = converge(host)
    assert stats[host.name]["changed"] == 0, stats
    assert result["sent"] == [] and result["decryptions"] == 0 and not result["changed"]
    calls = credential_calls(host)
    assert len(calls) == 1 and all("value" not in c and len(c["token"]) == 64 for c in calls[0][1])
    # One round trip: the host probe rode on the call with the tokens (no probe command of its own).
    assert b'"_probe"' in calls[0][0]
    for label, value in list(host.vault_values().items()) + [(VAULT_SRC, SRC_VALUE)]:
        for form in forms(value):
            assert form not in calls[0][0], "%s sent in a no-op converge" % label
    assert sealing(host) == []


@pytest.mark.parametrize("damage", ["rm -f {d}/web/db.password.cred", "cp {d}/web/wireguard.key.cred {d}/web/db.password.cred"])
def test_a_deleted_or_replaced_cred_is_repaired_with_that_value_only(host, prepared, damage):
    host.sh(damage.format(d="/var/lib/microvm-credentials"))
    reset(host)
    result, dummy = converge(host)
    assert result["sent"] == ["web/db.password"] and result["tampered"] == ["web/db.password"] and result["decryptions"] == 1
    assert sealing(host) == ["encrypt"]
    got = host.sh("systemd-creds decrypt --name=db.password /var/lib/microvm-credentials/web/db.password.cred -", binary=True)
    assert got == host.vault_values()["web/db.vault"]
    reset(host)
    again, dummy = converge(host)
    assert again["sent"] == [] and again["decryptions"] == 0


def test_a_changed_vault_src_is_decrypted_and_sent_once(host, prepared):
    changed = ("changed-%s" % uuid.uuid4().hex).encode()
    write_vault_src(host, changed)
    reset(host)
    result, dummy = converge(host)
    assert result["sent"] == ["web/app.token"] and result["decryptions"] == 1
    assert sealing(host) == ["encrypt"]
    assert host.sh("systemd-creds decrypt --name=app.token /var/lib/microvm-credentials/web/app.token.cred -", binary=True) == changed
    reset(host)
    again, dummy = converge(host)
    assert again["sent"] == [] and again["decryptions"] == 0
