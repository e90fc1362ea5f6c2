"""Canary leak scan: a known secret appears nowhere but the encrypted stores and the guest.

Runs the real playbook at -vvvv with --diff, then again with --check --diff, then a
rotation, with an Ansible log file, and searches for the canary (and its base64
form) in: every ansible output and the log file, every host process's argv and
environment, the host journal (all fields), unit files, every host file outside
the credential store (the guest's disk image included), and the serial log.

Positive controls prove the scan can see the canary where it must be: the guest
reports its sha256, and systemd's in-memory credential directory of the running
service holds it.
"""

import base64
import hashlib
import uuid

import pytest
from conftest import instance

CANARY = ("CANARY-%s" % uuid.uuid4().hex).encode()
BINARY_CANARY = b"\x00\xffBINCANARY" + uuid.uuid4().bytes


def forms(value):
    return [value, base64.b64encode(value)]


@pytest.fixture(scope="module")
def runs(host, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("leak")
    text_src, bin_src = tmp / "canary.txt", tmp / "canary.bin"
    text_src.write_bytes(CANARY)
    bin_src.write_bytes(BINARY_CANARY)
    log = tmp / "ansible.log"
    group_vars = {"microvm_instances": {"leak": instance("leak", {
        "canary": {"name": "app.token", "src": str(text_src)},
        "canary-bin": {"name": "canary.bin", "src": str(bin_src), "binary": True},
        "generated": {"name": "generated.key", "generate": {"type": "base64"}},
    })}}
    host.prepare_disk("leak")
    env = {"ANSIBLE_LOG_PATH": str(log)}
    outputs = [
        host.converge(group_vars, "-vvvv", "--diff", env=env).stdout,
        host.converge(None, "-vvvv", "--diff", "--check", env=env).stdout,
        host.converge(None, "-vvvv", "--diff", "-e", '{"microvm_rotate": ["leak/generated"]}', env=env).stdout,
    ]
    report = host.wait_report("leak")
    outputs.append(log.read_text())
    return {"outputs": outputs, "report": report, "secrets": [CANARY, BINARY_CANARY] + list(host.vault_values().values())}


def assert_absent(blob, secrets, where):
    for secret in secrets:
        for form in forms(secret):
            assert form not in blob, "a secret leaked into %s" % where


def test_the_guest_received_the_canaries(runs):
    for name, value in (("app.token", CANARY), ("canary.bin", BINARY_CANARY)):
        assert runs["report"][name] == (len(value), hashlib.sha256(value).hexdigest())


def test_ansible_output_and_log(host, runs):
    assert all(len(o) > 1000 for o in runs["outputs"])
    assert "<%s> RUN" % host.name in runs["outputs"][0]  # -vvvv really ran
    for i, output in enumerate(runs["outputs"]):
        assert_absent(output.encode(), runs["secrets"], "ansible output #%d" % i)


def test_host_processes_argv_and_environment(host, runs):
    blob = host.sh("for p in /proc/[0-9]*; do cat $p/cmdline $p/environ 2>/dev/null; done", binary=True)
    assert b"qemu-system-x86_64" in blob
    assert_absent(blob, runs["secrets"], "a host process's argv or environment")


def test_host_journal_all_fields(host, runs):
    blob = host.sh("journalctl --no-pager -o export", binary=True)
    assert b"microvm@leak.service" in blob
    assert_absent(blob, runs["secrets"], "the host journal")


def test_unit_files_and_serial_log(host, runs):
    blob = host.sh("cat /etc/systemd/system/microvm@.service /etc/systemd/system/microvm@leak.service.d/* "
                   "/etc/microvm-credentials/instances/* /var/log/microvm/leak/serial.log", binary=True)
    assert b"LoadCredentialEncrypted=app.token:" in blob and b"MICROVM-CRED" in blob
    assert_absent(blob, runs["secrets"], "unit files, instance config or serial log")


def test_no_host_file_outside_the_credential_store(host, runs):
    # grep -F takes text patterns: every printable form of every secret.
    patterns = sorted(set(f.decode() for s in runs["secrets"] for f in forms(s)
                          if all(0x20 < c < 0x7f for c in f) and len(f) >= 8))
    assert CANARY.decode() in patterns
    host.sh("cat > /root/.leak-patterns <<'EOF'\n%s\nEOF" % "\n".join(patterns))
    # /run/credentials is systemd's in-memory (ramfs) credential directory of the
    # running service: the delivery mechanism itself, checked as a positive control.
    found = host.sh("grep -r -l -a -F -f /root/.leak-patterns / --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev "
                    "--exclude=.leak-patterns 2>/dev/null || true").split()
    assert any(f.startswith("/run/credentials/microvm@leak.service/") for f in found), "the scan cannot see the canary"
    leaked = [f for f in found if not f.startswith("/run/credentials/microvm@leak.service/")]
    assert leaked == [], "secrets found in host files: %s" % leaked
    disk = host.sh("qemu-img convert -O raw /var/lib/microvm/leak/root.qcow2 /dev/stdout | grep -c -a -F %s || true" % CANARY.decode())
    assert disk.strip() == "0", "the canary is on the guest's disk"
