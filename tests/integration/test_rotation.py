"""Rotation: `-e '{"microvm_rotate": [...]}'` replaces exactly the named secrets, once.

Two running microVMs `a` and `b` share credential ids. Rotating `a/db` must change
that secret and nothing else: in the controller's vault store, in the host's
systemd-creds store, in which microVM restarts, and in what the guest reports on
its serial console. A rotated password also gets a new passlib hash.
"""

import json
import os

import pytest
from harness import BOOT_MARKER, DONE, expected_report, fingerprint, instance, recap

CREDS = {
    "db": {"name": "db.password", "generate": {"type": "password"}},
    "app-token": {"name": "app.token", "generate": {"type": "hex"}},
}
A_EXTRA = {
    "pw": {"inject": False, "generate": {"type": "password"}},
    "hash": {"name": "passwd.hashed-password.root", "generate": {"type": "passlib", "password_of": "pw"}},
}
GROUP_VARS = {"microvm_instances": {
    "a": instance("a", dict(CREDS, **A_EXTRA)),
    "b": instance("b", dict(CREDS)),
}}
CRED_DIR = "/var/lib/microvm-credentials"


def rotate(*patterns):
    return ("-e", json.dumps({"microvm_rotate": list(patterns)}))


def store_files(host):
    """{INSTANCE/ID.vault: raw bytes} of the controller store."""
    files = {}
    for inst in sorted(os.listdir(host.store)):
        if not os.path.isdir(os.path.join(host.store, inst)):
            continue  # the store's token key
        for fname in sorted(os.listdir(os.path.join(host.store, inst))):
            with open(os.path.join(host.store, inst, fname), "rb") as f:
                files["%s/%s" % (inst, fname)] = f.read()
    return files


def host_cred_hashes(host):
    """{INSTANCE/NAME.cred: sha256 of the encrypted file} on the host."""
    out = host.sh("cd %s && find . -type f -name '*.cred' -exec sha256sum {} + | sort" % CRED_DIR)
    return dict((path[2:], digest) for digest, path in (line.split() for line in out.splitlines()))


def state(host):
    return {
        "values": host.vault_values(),
        "files": store_files(host),
        "creds": host_cred_hashes(host),
        "pids": {"a": host.main_pid("a"), "b": host.main_pid("b")},
    }


@pytest.fixture(scope="module")
def converged(host):
    for name in ("a", "b"):
        host.prepare_disk(name)
    host.converge(GROUP_VARS)
    for name in ("a", "b"):
        host.check_report(GROUP_VARS, name)
    before = state(host)
    assert sorted(before["values"]) == ["a/app-token.vault", "a/db.vault", "a/hash.vault", "a/pw.vault",
                                        "b/app-token.vault", "b/db.vault"]
    assert sorted(before["creds"]) == ["a/app.token.cred", "a/db.password.cred", "a/passwd.hashed-password.root.cred",
                                       "b/app.token.cred", "b/db.password.cred"]
    assert 0 not in before["pids"].values()
    # Same generator, different secrets: the comparisons below can tell them apart.
    assert before["values"]["a/db.vault"] != before["values"]["b/db.vault"]
    return before


def changed_keys(before, after):
    return sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))


def test_rotating_one_secret_changes_only_it(host, converged):
    before = converged
    proc = host.converge(GROUP_VARS, *rotate("a/db"))
    assert recap(proc.stdout)["changed"] > 0
    after = state(host)

    # Controller: exactly one vault file (and its metadata) was rewritten, and it decrypts to a new value.
    assert changed_keys(before["files"], after["files"]) == ["a/db.meta", "a/db.vault"]
    assert changed_keys(before["values"], after["values"]) == ["a/db.vault"]
    new_db = after["values"]["a/db.vault"]
    assert len(new_db) == len(before["values"]["a/db.vault"]), "same generator, same length"

    # Host: only a's db.password.cred was re-encrypted.
    assert changed_keys(before["creds"], after["creds"]) == ["a/db.password.cred"]
    assert host.sh("systemd-creds decrypt --name=db.password %s/a/db.password.cred -" % CRED_DIR, binary=True) == new_db

    # Only microVM a was restarted.
    assert after["pids"]["b"] == before["pids"]["b"], "b was restarted though none of its secrets changed"
    assert after["pids"]["a"] not in (0, before["pids"]["a"]), "a was not restarted with its new secret"

    # Guest a booted again and sees the new value; everything else is what it was.
    report = host.wait_report("a", reports=2)
    assert report == expected_report(after["values"], "a", GROUP_VARS["microvm_instances"]["a"])
    assert report["db.password"] == fingerprint(new_db)
    first = expected_report(before["values"], "a", GROUP_VARS["microvm_instances"]["a"])
    assert report["app.token"] == first["app.token"]
    assert report["passwd.hashed-password.root"] == first["passwd.hashed-password.root"]
    assert host.serial("b").count(DONE) == 1, "guest b booted again"


def test_rotation_is_not_sticky(host, converged):
    before = state(host)
    proc = host.converge(GROUP_VARS)
    assert recap(proc.stdout)["changed"] == 0, proc.stdout[-4000:]
    assert state(host) == before


def test_rotating_a_password_regenerates_its_hash(host, converged):
    from passlib.hash import sha512_crypt

    before = state(host)
    old_pw, old_hash = before["values"]["a/pw.vault"], before["values"]["a/hash.vault"]
    assert sha512_crypt.verify(old_pw.decode(), old_hash.decode())

    host.converge(GROUP_VARS, *rotate("a/pw"))
    after = state(host)
    assert changed_keys(before["files"], after["files"]) == ["a/hash.meta", "a/hash.vault", "a/pw.meta", "a/pw.vault"]
    new_pw, new_hash = after["values"]["a/pw.vault"], after["values"]["a/hash.vault"]
    assert new_pw != old_pw and new_hash != old_hash
    assert sha512_crypt.verify(new_pw.decode(), new_hash.decode()), "the new hash is not made from the new password"
    assert not sha512_crypt.verify(old_pw.decode(), new_hash.decode())
    # pw is not injected: only the hash reaches the host and the guest.
    assert changed_keys(before["creds"], after["creds"]) == ["a/passwd.hashed-password.root.cred"]
    assert after["pids"]["b"] == before["pids"]["b"]
    assert after["pids"]["a"] not in (0, before["pids"]["a"]), "a was not restarted with its new hash"
    assert host.sh("systemctl is-active microvm@a.service").strip() == "active"
    assert host.sh("systemd-creds decrypt --name=passwd.hashed-password.root %s/a/passwd.hashed-password.root.cred -"
                   % CRED_DIR, binary=True) == new_hash


def test_demo_report_compares_the_current_boot_only(host, converged):
    """Right after a rotation the serial log still ends with the previous boot's report;
    playbooks/demo_report.yml waits for the new boot's and finds no MISMATCH."""
    host.wait_report("a", reports=host.serial("a").count(BOOT_MARKER))  # no boot in progress
    boots = host.serial("a").count(BOOT_MARKER)
    host.converge(GROUP_VARS, *rotate("a/app-token"))
    serial = host.serial("a")
    assert serial.count(BOOT_MARKER) == boots + 1 and DONE not in serial.split(BOOT_MARKER)[-1], \
        "the new boot reported before the demo report started: nothing to tell apart"
    proc = host.playbook(None, playbook="playbooks/demo_report.yml")
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert "Every guest holds exactly the controller's credentials" in proc.stdout
    assert "MISMATCH" not in proc.stdout and "MISSING" not in proc.stdout
