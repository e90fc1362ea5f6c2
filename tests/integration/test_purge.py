"""An instance removed from microvm_instances is stopped, disabled and removed with its credentials."""

from conftest import instance, recap


def group_vars(*names):
    return {"microvm_instances": dict(
        (n, instance(n, {"token": {"name": "app.token", "generate": {"type": "hex"}}}, autostart=False)) for n in names)}


def test_removed_instance_is_purged_and_the_other_kept(host):
    host.converge(group_vars("keep", "gone"))
    assert host.sh("getent passwd microvm-gone microvm-keep | cut -d: -f1").split() == ["microvm-gone", "microvm-keep"]
    assert host.sh("ls /var/lib/microvm-credentials").split() == ["gone", "keep"]
    keep_before = host.sh("sha256sum /var/lib/microvm-credentials/keep/app.token.cred /etc/microvm-credentials/instances/keep.json")

    proc = host.converge(group_vars("keep"), "--diff")
    assert recap(proc.stdout)["changed"] >= 1
    assert host.sh("ls /var/lib/microvm-credentials").split() == ["keep"]
    assert host.sh("ls /etc/microvm-credentials/instances").split() == ["keep.json"]
    assert host.sh("test -e /etc/systemd/system/microvm@gone.service.d && echo present || echo absent").strip() == "absent"
    assert host.sh("systemctl is-enabled microvm@gone.service 2>&1 || true").strip() in ("disabled", "not-found", "")
    # Its user and group went with it; the kept instance's stayed.
    assert host.sh("getent passwd microvm-gone microvm-keep | cut -d: -f1").split() == ["microvm-keep"]
    assert host.sh("getent group microvm-gone || echo absent").strip() == "absent"
    assert host.sh("sha256sum /var/lib/microvm-credentials/keep/app.token.cred /etc/microvm-credentials/instances/keep.json") == keep_before
    # The controller keeps the removed instance's secrets: removing config never destroys a secret.
    assert "gone/token.vault" in host.vault_values()
    assert recap(host.converge(group_vars("keep")).stdout)["changed"] == 0
