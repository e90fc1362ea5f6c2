"""An instance removed from microvm_instances keeps its units and credentials with
microvm_purge: false; with true it is stopped, disabled and removed with its credentials."""

from harness import instance, recap

CRED_DIR = "/var/lib/microvm-credentials"


def group_vars(*names, **top):
    gv = {"microvm_instances": dict(
        (n, instance(n, {"token": {"name": "app.token", "generate": {"type": "hex"}}}, autostart=False)) for n in names)}
    gv.update(top)
    return gv


def exists(host, path):
    return host.sh("test -e %s && echo present || echo absent" % path).strip() == "present"


def test_purge_false_keeps_units_and_credentials_of_a_removed_instance(host):
    host.converge(group_vars("keep", "gone"))
    assert host.sh("ls %s" % CRED_DIR).split() == ["gone", "keep"]
    gone_before = host.sh("sha256sum %s/gone/app.token.cred" % CRED_DIR)

    host.converge(group_vars("keep", microvm_purge=False))
    assert host.sh("sha256sum %s/gone/app.token.cred" % CRED_DIR) == gone_before
    assert exists(host, "/etc/systemd/system/microvm@gone.service.d")
    assert host.sh("ls /etc/microvm-credentials/instances").split() == ["gone.json", "keep.json"]
    assert recap(host.converge(group_vars("keep", microvm_purge=False)).stdout)["changed"] == 0


def test_removed_instance_is_purged_and_the_other_kept(host):
    # The previous test kept "gone" (purge false): its user is still there.
    assert host.sh("getent passwd microvm-gone microvm-keep | cut -d: -f1").split() == ["microvm-gone", "microvm-keep"]
    keep_before = host.sh("sha256sum %s/keep/app.token.cred /etc/microvm-credentials/instances/keep.json" % CRED_DIR)

    proc = host.converge(group_vars("keep"), "--diff")
    assert recap(proc.stdout)["changed"] >= 1
    assert host.sh("ls %s" % CRED_DIR).split() == ["keep"]
    assert '"gone"' not in host.sh("cat %s/.microvm-credentials.json" % CRED_DIR)
    assert host.sh("ls /etc/microvm-credentials/instances").split() == ["keep.json"]
    assert not exists(host, "/etc/systemd/system/microvm@gone.service.d")
    assert host.sh("systemctl is-enabled microvm@gone.service 2>&1 || true").strip() in ("disabled", "not-found", "")
    # Its user and group went with it; the kept instance's stayed.
    assert host.sh("getent passwd microvm-gone microvm-keep | cut -d: -f1").split() == ["microvm-keep"]
    assert host.sh("getent group microvm-gone || echo absent").strip() == "absent"
    assert host.sh("sha256sum %s/keep/app.token.cred /etc/microvm-credentials/instances/keep.json" % CRED_DIR) == keep_before
    # The controller keeps the removed instance's secrets: removing config never destroys a secret.
    assert "gone/token.vault" in host.vault_values()
    assert recap(host.converge(group_vars("keep")).stdout)["changed"] == 0
