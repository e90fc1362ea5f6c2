"""Key pairs, command generators and inputs end to end: real host container, real guest.

The guest gets an SSH host key and its public half; a play on the controller writes
known_hosts and a CA trust store from them in the same run; a rotated CA takes its
certificate along and restarts the instance.
"""

import os
import subprocess

import pytest
from harness import fingerprint, instance, report_key

CREDENTIALS = {
    "app-token": {"name": "app.token", "generate": {"type": "hex"}},
    "host": {"name": "ssh.key", "inject_public": "ssh.pub", "generate": {"type": "ssh", "comment": "root@kp"}},
    "ca": {"inject": False, "generate": {"type": "ca", "days": 30}},
    "cert": {"name": "tls.key", "inject_public": "tls.crt", "generate": {"type": "tls", "dns": ["kp.example"], "days": 10, "ca": "ca"}},
    "derived": {"name": "derived", "generate": {"type": "command", "argv": ["sh", "-c", 'printf "d-%s" "$(cat "$in/app-token")"'],
                                                "inputs": ["app-token"]}},
}
GROUP_VARS = {"microvm_instances": {"kp": instance("kp", CREDENTIALS, report_key=True)}}


@pytest.fixture(scope="module")
def converged(host, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("consumers"))
    host.prepare_disk("kp")
    proc = host.converge(GROUP_VARS, "-e", "out_dir=" + out, playbook="tests/integration/playbooks/public_halves.yml")
    return host, out, proc


def public_file(host, cred_id):
    with open(os.path.join(host.store, "kp", cred_id + ".pub"), "rb") as f:
        return f.read()


def test_guest_gets_the_key_pair_and_its_public_half(converged, tmp_path):
    host, dummy, dummy = converged
    report = host.wait_report("kp")
    values = host.vault_values()
    ssh_pub = public_file(host, "host")
    rkey = report_key(values, "kp")
    assert report["ssh.key"] == fingerprint(rkey, values["kp/host.vault"])
    assert report["ssh.pub"] == fingerprint(rkey, ssh_pub.rstrip(b"\n"))
    assert report["tls.crt"] == fingerprint(rkey, public_file(host, "cert").rstrip(b"\n"))
    assert report["derived"] == fingerprint(rkey, b"d-" + values["kp/app-token.vault"])
    key = tmp_path / "key"
    key.write_bytes(values["kp/host.vault"])
    key.chmod(0o600)
    derived = subprocess.run(["ssh-keygen", "-y", "-f", str(key)], check=True, capture_output=True).stdout.strip()
    assert ssh_pub.startswith(derived + b" root@kp")
    assert oct(os.stat(os.path.join(host.store, "kp", "host.pub")).st_mode & 0o777) == "0o644"


def test_same_run_consumers_see_the_public_halves(converged):
    host, out, dummy = converged
    with open(os.path.join(out, "known_hosts"), "rb") as f:
        assert f.read() == b"kp.example " + public_file(host, "host")
    with open(os.path.join(out, "ca.pem"), "rb") as f:
        assert f.read() == public_file(host, "ca")
    verify = subprocess.run(["openssl", "verify", "-CAfile", os.path.join(out, "ca.pem"), os.path.join(host.store, "kp", "cert.pub")],
                            capture_output=True, text=True, check=False)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_rotating_the_ca_renews_the_certificate_and_restarts(converged):
    host, out, dummy = converged
    host.wait_report("kp")
    before, pid = host.vault_values(), host.main_pid("kp")
    proc = host.converge(GROUP_VARS, "-e", "out_dir=" + out, "-e", '{"microvm_rotate": ["kp/ca"]}',
                         playbook="tests/integration/playbooks/public_halves.yml")
    after = host.vault_values()
    changed = sorted(k for k in after if after[k] != before[k])
    assert changed == ["kp/ca.vault", "kp/cert.vault"], proc.stdout[-3000:]
    assert host.main_pid("kp") != pid
    report = host.wait_report("kp", reports=2)
    assert report["tls.crt"] == fingerprint(report_key(after, "kp"), public_file(host, "cert").rstrip(b"\n"))
