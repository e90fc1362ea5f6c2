"""A real guest gets its credentials from a sops store (microvm_credentials_backend: sops).

The operator holds host a's age key only (SOPS_AGE_KEY_FILE); the store's files are sops files
that plain `sops -d` reads. A run by an operator without a key for the host stops before anything
changes, naming the file and its recipients. When the recipients change, the run stops until an
explicit rekey (microvm_credentials_rekey) re-encrypts the store, values unchanged.
"""

import os
import subprocess

import pytest
from harness import expected_report, fingerprint, instance, recap, report_key, sops_values

CREDS = {
    "db": {"name": "db.password", "generate": {"type": "password"}},
    "app-token": {"name": "app.token", "generate": {"type": "hex"}},
}


def age_key(tmp, name):
    path = os.path.join(str(tmp), name + ".key")
    subprocess.run(["age-keygen", "-o", path], check=True, capture_output=True)
    return path, subprocess.run(["age-keygen", "-y", path], check=True, capture_output=True, text=True).stdout.strip()


def group_vars(recipients):
    return {"microvm_credentials_backend": "sops", "microvm_credentials_sops_recipients": recipients,
            "microvm_instances": {"s": instance("s", CREDS, report_key=True)}}


def store_files(host):
    return dict((os.path.relpath(os.path.join(d, f), host.store), open(os.path.join(d, f), "rb").read())
                for d, dummy, fs in os.walk(host.store) for f in fs)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("age")
    return dict((name, age_key(tmp, name)) for name in ("a", "b"))


def env_with(key_file, tmp):
    return {"SOPS_AGE_KEY_FILE": key_file, "HOME": str(tmp)}  # no key of the machine's user takes part


def test_guest_gets_credentials_from_sops_then_access_and_rekey(host, keys, tmp_path):
    key_a, pub_a = keys["a"]
    key_b, pub_b = keys["b"]
    host.prepare_disk("s")
    host.converge(group_vars([pub_a]), env=env_with(key_a, tmp_path))
    expected_files = ["s/app-token.meta", "s/app-token.sops", "s/db.meta", "s/db.sops", "s/report-key.meta", "s/report-key.sops"]
    assert sorted(f for f in store_files(host) if not f.startswith(".")) == expected_files
    values = sops_values(host, key_a)
    seen = host.wait_report("s")
    assert seen == expected_report(values, "s", group_vars([pub_a])["microvm_instances"]["s"])
    assert seen["db.password"] == fingerprint(report_key(values, "s"), values["s/db.vault"])

    proc = host.converge(group_vars([pub_a]), env=env_with(key_a, tmp_path))
    assert recap(proc.stdout)["changed"] == 0

    # An operator who holds another host's key only: stopped before anything changes.
    before_store, before_host = store_files(host), host.snapshot()
    proc = host.playbook(group_vars([pub_a]), env=env_with(key_b, tmp_path))
    assert proc.returncode != 0
    assert "no age key of yours opens %s" % os.path.join(host.store, "s") in proc.stdout
    assert "it is encrypted to %s." % pub_a in proc.stdout
    assert store_files(host) == before_store and host.snapshot() == before_host

    # The recipients change: stopped, naming the rekey, until it is asked for.
    proc = host.playbook(group_vars([pub_a, pub_b]), env=env_with(key_a, tmp_path))
    assert proc.returncode != 0
    assert "is encrypted to %s, but the configuration wants %s" % (pub_a, ", ".join(sorted([pub_a, pub_b]))) in proc.stdout
    assert "microvm_credentials_rekey=true" in proc.stdout
    assert store_files(host) == before_store and host.snapshot() == before_host

    host.converge(group_vars([pub_a, pub_b]), "-e", "microvm_credentials_rekey=true", env=env_with(key_a, tmp_path))
    after = store_files(host)
    assert after["s/db.sops"] != before_store["s/db.sops"] and after["s/db.meta"] == before_store["s/db.meta"]
    assert sops_values(host, key_b) == values  # host b's operator opens them now, same values
    proc = host.converge(group_vars([pub_a, pub_b]), env=env_with(key_b, tmp_path))
    assert recap(proc.stdout)["failed"] == 0
