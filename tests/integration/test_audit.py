"""The audit (playbooks/audit.yml, microvm_credentials_info) against a real host and guest.

One host container: converge, the audit shows everything in sync; a rotation that
reaches the host without a restart shows restart pending until the next converge
restarts the instance; a value changed on the controller only shows differs, a
.cred file deleted on the host missing; an instance that left the inventory is orphaned in the controller store, and
microvm_prune_store=true deletes it (not with --check).
"""

import hashlib
import json
import os
import subprocess

import pytest
from harness import instance, recap

CREDENTIALS = {
    "token": {"name": "app.token", "generate": {"type": "hex"}},
    "pw": {"name": "db.password", "generate": {"type": "password", "length": 16}},
    "hidden": {"inject": False, "generate": {"type": "password"}},
    "host-key": {"name": "ssh.key", "inject_public": "ssh.pub", "generate": {"type": "ssh", "comment": "root@au"}},
}
INSTANCES = {
    "au": instance("au", CREDENTIALS),
    "gone": instance("gone", {"old": {"generate": {"type": "hex"}}}, autostart=False),
}
ALL = {"microvm_instances": INSTANCES}
REMAINING = {"microvm_instances": {"au": INSTANCES["au"]}}
AUDIT = "playbooks/audit.yml"
AUDIT_TASK = "Audit the credentials of this host"


def audit(host, *args):
    """(CompletedProcess, the audit's result) of playbooks/audit.yml, through the json callback."""
    proc = host.playbook(None, *args, playbook=AUDIT, env={"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json"})
    assert proc.returncode == 0, proc.stdout[-6000:]
    out = json.loads(proc.stdout[proc.stdout.index("{"):])
    results = [t["hosts"][host.name] for p in out["plays"] for t in p["tasks"] if t["task"]["name"] == AUDIT_TASK]
    return proc, out, results[0]


def by_id(result):
    return dict(("%s/%s" % (r["instance"], r["id"] or "(%s)" % r["name"]), r) for r in result["credentials"])


def rewrite_vault(host, cred_id, value):
    """Change a secret on the controller only, as a hand edit with ansible-vault would."""
    from ansible.parsing.vault import VaultLib, VaultSecret
    with open(host.vault_password_file, "rb") as f:
        lib = VaultLib([("default", VaultSecret(f.read().strip()))])
    with open(os.path.join(host.store, "au", cred_id + ".vault"), "wb") as f:
        f.write(lib.encrypt(value))


@pytest.fixture(scope="module")
def converged(host):
    for name in INSTANCES:
        host.prepare_disk(name)
    host.converge(ALL)
    return host


def test_in_sync_after_converge(converged):
    host = converged
    proc, dummy, result = audit(host)
    rows = by_id(result)
    assert sorted(rows) == ["au/hidden", "au/host-key", "au/host-key.pub", "au/pw", "au/token", "gone/old"], rows
    for key in ("au/token", "au/pw", "au/host-key", "au/host-key.pub", "gone/old"):
        assert rows[key]["host"] == "in-sync", rows[key]
        assert rows[key]["restart_pending"] is False
    assert rows["au/hidden"]["host"] == "not-injected"
    assert result["orphaned"] == [] and result["prune"] == []
    assert result["units"]["au"]["active_state"] == "active"
    assert result["changed"] is False
    # Key pairs: the public key's fingerprint, as ssh-keygen prints it from the public file.
    keygen = subprocess.run(["ssh-keygen", "-lf", os.path.join(host.store, "au", "host-key.pub")],
                            capture_output=True, text=True, check=True).stdout.split()[1]
    assert rows["au/host-key"]["fingerprint"] == keygen == rows["au/host-key.pub"]["fingerprint"]
    # Secrets: a keyed fingerprint, never the value nor its plain hash, even with -vvvv.
    verbose = host.playbook(None, "-vvvv", playbook=AUDIT)
    assert verbose.returncode == 0, verbose.stdout[-3000:]
    for value in host.vault_values().values():
        for output in (proc.stdout, verbose.stdout):
            assert value.decode(errors="replace") not in output
            assert hashlib.sha256(value).hexdigest()[:16] not in output
    assert rows["au/pw"]["fingerprint"].startswith("hmac:")
    assert rows["au/pw"]["rotated"] == pytest.approx(os.stat(os.path.join(host.store, "au", "pw.vault")).st_mtime)
    assert rows["au/pw"]["age_days"] == 0
    assert any("SHA256:" in line and "host-key" in line for line in result["table"])


def test_check_mode_is_the_same_audit(converged):
    host = converged
    dummy, out, result = audit(host, "--check")
    assert result["changed"] is False
    assert set(r["host"] for r in result["credentials"]) == {"in-sync", "not-injected"}
    assert out["stats"][host.name]["changed"] == 0


def test_rotation_without_restart_is_pending(converged):
    host = converged
    before = by_id(audit(host)[2])
    host.converge(ALL, "-e", '{"microvm_rotate": ["au/token"]}', playbook="tests/integration/playbooks/credentials_only.yml")
    rows = by_id(audit(host)[2])
    assert rows["au/token"]["host"] == "in-sync"
    assert rows["au/token"]["restart_pending"] is True
    assert rows["au/token"]["fingerprint"] != before["au/token"]["fingerprint"]
    assert rows["au/pw"]["restart_pending"] is False
    assert rows["au/pw"]["fingerprint"] == before["au/pw"]["fingerprint"]
    # The credential is in sync, yet the unit started before it was written: the next
    # converge restarts it (check mode only says so), and nothing is pending after.
    pid = host.main_pid("au")
    check = host.converge(ALL, "--check")
    assert recap(check.stdout)["changed"] == 1, check.stdout[-3000:]
    assert host.main_pid("au") == pid
    assert by_id(audit(host)[2])["au/token"]["restart_pending"] is True
    host.converge(ALL)
    assert host.main_pid("au") not in (0, pid)
    assert by_id(audit(host)[2])["au/token"]["restart_pending"] is False


def test_a_value_changed_on_the_controller_differs(converged):
    host = converged
    rewrite_vault(host, "pw", b"changed-on-the-controller")
    rows = by_id(audit(host)[2])
    assert rows["au/pw"]["host"] == "differs"
    assert rows["au/token"]["host"] == "in-sync"
    host.converge(ALL)
    assert by_id(audit(host)[2])["au/pw"]["host"] == "in-sync"


def test_a_credential_deleted_on_the_host_is_missing(converged):
    host = converged
    host.sh("rm /var/lib/microvm-credentials/au/db.password.cred")
    rows = by_id(audit(host)[2])
    assert rows["au/pw"]["host"] == "missing"
    assert rows["au/token"]["host"] == "in-sync"
    host.converge(ALL)
    assert by_id(audit(host)[2])["au/pw"]["host"] == "in-sync"


def test_removed_instance_is_orphaned_and_pruned_on_request(converged):
    host = converged
    host.converge(REMAINING)
    gone = os.path.join(host.store, "gone")
    dummy, dummy, result = audit(host)
    assert result["orphaned"] == ["gone/*"]
    assert result["prune"] == [os.path.join(gone, "old.meta"), os.path.join(gone, "old.vault"), gone]
    assert by_id(result)["gone/old"]["orphaned"] is True
    # The host's credentials of the removed instance went with the purge.
    assert "gone" not in result["units"] or result["units"]["gone"]["active_state"] != "active"

    proc = host.playbook(None, "-e", "microvm_prune_store=true", "--check", "--diff", playbook=AUDIT)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert os.path.exists(os.path.join(gone, "old.vault"))
    assert "old.vault" in proc.stdout and recap(proc.stdout)["changed"] == 1

    proc = host.playbook(None, "-e", "microvm_prune_store=true", playbook=AUDIT)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert not os.path.exists(gone)
    assert os.path.exists(os.path.join(host.store, "au", "pw.vault"))
    dummy, dummy, result = audit(host)
    assert result["orphaned"] == [] and "gone/old" not in by_id(result)
