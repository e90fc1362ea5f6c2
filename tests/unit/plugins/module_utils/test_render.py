from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.microvm.credentials.plugins.module_utils._host.render import (
    desired_files,
    dropin_content,
    instances_to_restart,
    resolved_accel,
    stale_files,
    sysusers_content,
)
from ansible_collections.microvm.credentials.plugins.plugin_utils._schema.instances import host_view, normalize_instance

LAUNCHER = "/usr/libexec/mc/microvm-launch"
PATHS = {"config_dir": "/etc/mc/instances", "unit_dir": "/etc/systemd/system", "virtiofs_dir": "/etc/mc/virtiofs",
         "sysusers_dir": "/etc/sysusers.d", "credential_directory": "/var/lib/microvm-credentials", "launcher": LAUNCHER}


def instance(name="web", shares=(), **kw):
    """What the host gets: the host view of a normalised instance (KW: its microvm_instances settings)."""
    spec = {"hypervisor": "qemu", "accel": "tcg", "kernel": "/srv/vmlinuz",
            "disks": [{"path": "/var/lib/microvm/%s/root.qcow2" % name, "format": "qcow2"}],
            "shares": [{"tag": t, "source": "/srv/" + t} for t in shares],
            "credentials": {"db": {"name": "db.password", "src": "/controller/path"},
                            "pw": {"inject": False, "generate": {"type": "password"}}}}
    spec.update(kw)
    return host_view(normalize_instance(name, spec))


def service_lines(text):
    return text.split("[Service]\n", 1)[1].splitlines()


def test_dropin_loads_injected_credentials_only():
    text = dropin_content(instance(), "/var/lib/microvm-credentials", LAUNCHER, "Ansible managed")
    assert text.startswith("# Ansible managed\n[Service]\n")
    assert "LoadCredentialEncrypted=db.password:/var/lib/microvm-credentials/web/db.password.cred\n" in text
    assert "pw.cred" not in text
    assert "TimeoutStopSec=40\n" in text


def test_dropin_requires_virtiofsd_per_share():
    text = dropin_content(instance(shares=["data"]), "/c", LAUNCHER)
    assert "Requires=microvm-virtiofsd@web:data.service\n" in text
    assert "After=microvm-virtiofsd@web:data.service\n" in text


def test_desired_files_modes_and_owner_instance():
    files = desired_files([instance(shares=["data"])], PATHS, "h")
    # Read by the launcher, which runs as the instance's user.
    assert files["/etc/mc/instances/web.json"][1:] == (0o640, "web", "microvm-web")
    config = json.loads(files["/etc/mc/instances/web.json"][0])
    # The host view as it is: one shape on the host; the controller's generators and paths stay there.
    assert config == instance(shares=["data"])
    assert config["credentials"] == [{"name": "db.password", "binary": None}]
    assert files["/etc/systemd/system/microvm@web.service.d/50-microvm-credentials.conf"][1:] == (0o644, "web", None)
    assert files["/etc/mc/virtiofs/web:data.env"] == (
        "# h\nSHARED_DIR=/srv/data\nSOCKET_PATH=/run/microvm-virtiofsd/web/data.sock\n", 0o600, "web", None)
    # virtiofsd runs as the instance's user, writes its share only, keeps its socket in its own directory.
    assert files["/etc/systemd/system/microvm-virtiofsd@web:data.service.d/50-microvm-credentials.conf"] == (
        "# h\n[Service]\nUser=microvm-web\nGroup=microvm-web\nRuntimeDirectory=microvm-virtiofsd/web\n"
        'ReadWritePaths="/srv/data"\n', 0o644, "web", None)
    assert files["/etc/sysusers.d/microvm-credentials.conf"][1:] == (0o644, None, None)


def test_virtiofsd_dropin_quotes_the_share_path():
    inst = instance(shares=["d"])
    inst["shares"][0]["source"] = '/srv/a b%i"\\'
    text = [v[0] for k, v in desired_files([inst], PATHS).items() if "virtiofsd@web:d" in k][0]
    assert text.splitlines()[-1] == 'ReadWritePaths="/srv/a b%%i\\"\\\\"'


def test_sysusers_declares_one_user_per_instance_in_kvm():
    assert sysusers_content([instance("a"), instance("b")], "h") == (
        '# h\ng kvm -\nu microvm-a - "microVM a" - -\nm microvm-a kvm\nu microvm-b - "microVM b" - -\nm microvm-b kvm\n')
    assert sysusers_content([]) == "g kvm -\n"


def test_accel_is_resolved_once_for_launcher_and_unit():
    files = desired_files([instance(accel="auto")], PATHS, kvm_probe=lambda: True)
    assert json.loads(files["/etc/mc/instances/web.json"][0])["accel"] == "kvm"
    assert "MemoryDenyWriteExecute=yes" in files["/etc/systemd/system/microvm@web.service.d/50-microvm-credentials.conf"][0]
    files = desired_files([instance(accel="auto")], PATHS, kvm_probe=lambda: False)
    assert json.loads(files["/etc/mc/instances/web.json"][0])["accel"] == "tcg"
    assert resolved_accel(instance(hypervisor="cloud-hypervisor", accel="auto", disks=[]), lambda: False) == "kvm"


def test_sandbox_tcg_without_devices_has_no_network_and_allows_jit():
    lines = service_lines(dropin_content(instance(), "/c", LAUNCHER))
    assert "PrivateNetwork=yes" in lines
    sandbox = ("DeviceAllow=", "MemoryDenyWriteExecute=", "ExecStartPre=", "ReadWritePaths=")
    assert not [line for line in lines if line.startswith(sandbox)]


def test_sandbox_kvm_with_tap_vsock_and_outside_disk():
    inst = instance(accel="kvm", interfaces=[{"tap": "vm-web0"}], vsock_cid=5,
                    disks=[{"path": "/var/lib/microvm/web/root.img"}, {"path": "/srv/data.img"}, {"path": "/srv/ro.img", "readonly": True}])
    lines = service_lines(dropin_content(inst, "/c", LAUNCHER))
    for line in ("DeviceAllow=/dev/kvm rw", "MemoryDenyWriteExecute=yes", "DeviceAllow=/dev/net/tun rw",
                 "ExecStartPre=+%s tap web" % LAUNCHER, "DeviceAllow=/dev/vhost-vsock rw", "ReadWritePaths=-/srv/data.img"):
        assert line in lines
    assert "PrivateNetwork=yes" not in lines
    assert [line for line in lines if line.startswith("ReadWritePaths=")] == ["ReadWritePaths=-/srv/data.img"]
    ch = service_lines(dropin_content(dict(inst, hypervisor="cloud-hypervisor"), "/c", LAUNCHER))
    assert "DeviceAllow=/dev/kvm rw" in ch and "DeviceAllow=/dev/vhost-vsock rw" not in ch


def test_sandbox_block_device_disks():
    inst = instance(disks=[{"path": "/dev/vg0/web"}, {"path": "/dev/sdb", "readonly": True}])
    lines = service_lines(dropin_content(inst, "/c", LAUNCHER))
    assert [line for line in lines if line.startswith(("DeviceAllow=", "ReadWritePaths="))] == [
        "DeviceAllow=/dev/vg0/web rw", "ReadWritePaths=-/dev/vg0/web", "DeviceAllow=/dev/sdb r"]


def test_stale_files():
    gone, stale = stale_files([instance("web", ["a"])], ["web", "old"], ["web:a", "web:b", "old:x"], PATHS)
    assert gone == ["old"]
    assert stale == ["/etc/mc/instances/old.json", "/etc/systemd/system/microvm@old.service.d/50-microvm-credentials.conf",
                     "/etc/mc/virtiofs/old:x.env", "/etc/systemd/system/microvm-virtiofsd@old:x.service.d/50-microvm-credentials.conf",
                     "/etc/mc/virtiofs/web:b.env", "/etc/systemd/system/microvm-virtiofsd@web:b.service.d/50-microvm-credentials.conf"]


def unit(state="active", since=100.0):
    return {"active_state": state, "unit_file_state": "enabled", "active_since": since}


def test_restart_only_changed_running_not_just_started():
    insts = [instance("a"), instance("b"), instance("c"), instance("d")]
    units = {"a": unit(), "b": unit("inactive"), "c": unit(), "d": unit()}
    assert instances_to_restart(insts, {"a", "b", "c"}, set(), units, {}, {"c"}) == {"a": "files"}


def test_restart_requested_running_only():
    insts = [instance("a"), instance("b"), instance("c")]
    units = {"a": unit(), "b": unit("failed"), "c": None}
    assert instances_to_restart(insts, set(), {"a", "b", "c"}, units, {}, set()) == {"a": "requested"}


def test_restart_when_a_credential_was_written_after_the_unit_became_active():
    insts = [instance("old"), instance("new"), instance("none"), instance("down"), instance("up"), instance("both")]
    units = {"old": unit(since=100.0), "new": unit(since=300.0), "none": unit(), "down": unit("inactive"),
             "up": unit("activating", None), "both": unit(since=100.0)}
    written = {"old": 200.0, "new": 200.0, "none": None, "down": 200.0, "up": 200.0, "both": 200.0}
    assert instances_to_restart(insts, {"both"}, set(), units, written, set()) == {"old": "credentials", "both": "files"}
    # Started in this run: it loads the current files anyway.
    assert instances_to_restart(insts, set(), set(), units, written, {"old"}) == {"both": "credentials"}
