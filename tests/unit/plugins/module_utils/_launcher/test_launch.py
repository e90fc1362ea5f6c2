from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import socket
import subprocess

import pytest

from ansible_collections.microvm.credentials.plugins.module_utils._launcher.launch import (
    LaunchError,
    check_version,
    cmd_tap,
    load_instance,
    main,
    oem_strings,
    user_name,
    wait_for_shares,
)
from ansible_collections.microvm.credentials.plugins.module_utils._launcher.launch import BOOT_MARKER, mark_serial_log
from ansible_collections.microvm.credentials.plugins.module_utils._launcher.qemu import pipe_paths
from ansible_collections.microvm.credentials.plugins.plugin_utils._schema.instances import host_view, normalize_instance


def instance(**kw):
    """The host view the launcher loads (see render.desired_files), KW set on it."""
    spec = {"hypervisor": "qemu", "kernel": "/srv/vmlinuz", "oem_strings": ["io.systemd.credential:banner=hi"],
            "credentials": {"db": {"name": "db.password", "src": "/srv/db"}, "wg": {"name": "wg.key", "binary": True, "src": "/srv/wg"}}}
    base = host_view(normalize_instance("web", spec))
    base.update(kw)
    return base


@pytest.fixture
def creds(tmp_path):
    (tmp_path / "db.password").write_bytes(b"s3cret")
    (tmp_path / "wg.key").write_bytes(b"\x01\x02")
    return str(tmp_path)


def test_oem_strings_from_credentials_directory(creds):
    assert oem_strings(instance(), creds) == [
        "io.systemd.credential:db.password=s3cret",
        "io.systemd.credential.binary:wg.key=AQI=",
        "io.systemd.credential:banner=hi",
    ]


def test_missing_credential_names_it_without_value(creds):
    os.unlink(os.path.join(creds, "wg.key"))
    with pytest.raises(LaunchError, match="wg.key is missing"):
        oem_strings(instance(), creds)


def test_no_credentials_directory():
    with pytest.raises(LaunchError, match="CREDENTIALS_DIRECTORY"):
        oem_strings(instance(), None)


def test_no_credentials_need_no_directory():
    assert oem_strings(instance(credentials=[]), None) == ["io.systemd.credential:banner=hi"]


def test_values_read_at_start_are_checked(creds):
    # The configuration is trusted; what the files hold is only known here.
    with open(os.path.join(creds, "db.password"), "wb") as f:
        f.write(b"\xff")
    with pytest.raises(LaunchError, match="credential db.password: .*binary: true"):
        oem_strings(instance(credentials=[{"name": "db.password", "binary": False}]), creds)
    with open(os.path.join(creds, "db.password"), "wb") as f:
        f.write(b"x" * 70000)
    with pytest.raises(LaunchError, match=r"credential db.password takes \d+ bytes"):
        oem_strings(instance(), creds)


def test_pipes_are_inheritable_hold_the_string_once():
    paths = pipe_paths(["io.systemd.credential:a=b", u"ü", "x" * 61000])
    try:
        for path, want in zip(paths, [b"io.systemd.credential:a=b", u"ü".encode("utf-8"), b"x" * 61000]):
            fd = int(path.rsplit("/", 1)[1])
            assert os.get_inheritable(fd)
            with open(path, "rb") as f:  # what QEMU does with -smbios type=11,path=
                assert f.read() == want
            with open(path, "rb") as f:  # drained: no copy left behind
                assert f.read() == b""
    finally:
        for path in paths:
            os.close(int(path.rsplit("/", 1)[1]))


def test_load_instance_and_usage_errors(tmp_path, capsys):
    (tmp_path / "web.json").write_text(json.dumps(instance()))
    assert load_instance("web", str(tmp_path))["name"] == "web"
    with pytest.raises(LaunchError, match="cannot read"):
        load_instance("nope", str(tmp_path))
    assert main(["bogus"], {}) == 2
    assert main(["boot", "nope"], {"MICROVM_CONFIG_DIR": str(tmp_path)}) == 1
    assert main(["boot", "nope"], {}, config_dir=str(tmp_path)) == 1
    assert "cannot read instance configuration" in capsys.readouterr().err


def test_boot_fails_fast_when_the_hypervisor_died(tmp_path):
    import time
    from ansible_collections.microvm.credentials.plugins.module_utils._launcher.launch import cmd_boot
    dead = subprocess.Popen(["true"])
    dead.wait()
    start = time.monotonic()
    with pytest.raises(LaunchError, match="exited during start"):
        cmd_boot(instance(api_socket=str(tmp_path / "api.sock")), {"MAINPID": str(dead.pid)}, timeout=30)
    assert time.monotonic() - start < 5


class FakeRun:
    """subprocess.run stand-in: records argv, answers with STDOUT and RC."""

    def __init__(self, stdout=b"", returncode=0, stderr=b""):
        self.calls = []
        self.stdout, self.returncode, self.stderr = stdout, returncode, stderr

    def __call__(self, argv, **kw):
        import subprocess
        self.calls.append(argv)
        return subprocess.CompletedProcess(argv, self.returncode, self.stdout, self.stderr)


def test_check_version_accepts_a_fixed_qemu():
    run = FakeRun(b"QEMU emulator version 7.2.19 (Debian 1:7.2+dfsg-7+deb12u16)\nCopyright (c) 2003-2022\n")
    check_version("qemu", "/usr/bin/qemu-system-x86_64", run)
    assert run.calls == [["/usr/bin/qemu-system-x86_64", "--version"]]


@pytest.mark.parametrize("hypervisor, out, expected", [
    ("qemu", b"QEMU emulator version 7.2.15 (Debian 1:7.2+dfsg-7+deb12u12)\n", "buffer overrun"),
    ("qemu", b"", "cannot tell the QEMU version"),
    ("cloud-hypervisor", b"cloud-hypervisor v25.0\n", "v26 or later"),
])
def test_check_version_refuses(hypervisor, out, expected):
    with pytest.raises(LaunchError, match=expected) as err:
        check_version(hypervisor, "/bin/hv", FakeRun(out))
    assert str(err.value).startswith("/bin/hv: ")


def test_check_version_binary_that_does_not_run():
    with pytest.raises(LaunchError, match="cannot run /nonexistent/qemu --version"):
        check_version("qemu", "/nonexistent/qemu", subprocess.run)


def test_user_name():
    assert user_name("web") == "microvm-web"


def _sys_net(tmp_path, taps):
    for tap, owner in taps.items():
        (tmp_path / tap).mkdir()
        if owner is not None:
            (tmp_path / tap / "owner").write_text("%s\n" % owner)
    return str(tmp_path)


@pytest.fixture
def as_user(monkeypatch):
    import pwd
    from ansible_collections.microvm.credentials.plugins.module_utils._launcher import launch as _launcher
    monkeypatch.setattr(_launcher.pwd, "getpwnam", lambda name: pwd.struct_passwd((name, "x", 990, 990, "", "/", "/bin/false")))


def test_tap_creates_missing_taps_owned_by_the_instance_user(tmp_path, as_user):
    run = FakeRun()
    cmd_tap(instance(interfaces=[{"tap": "vm-web0"}, {"tap": "vm-web1"}]), run, _sys_net(tmp_path, {"vm-web1": 990}))
    assert run.calls == [
        ["ip", "tuntap", "add", "dev", "vm-web0", "mode", "tap", "user", "microvm-web"],
        ["ip", "link", "set", "dev", "vm-web0", "up"],
        ["ip", "link", "set", "dev", "vm-web1", "up"],
    ]


@pytest.mark.parametrize("owner, expected", [(0, "belongs to uid 0, not microvm-web"), (-1, "belongs to uid -1"),
                                             (None, "is not a tap device")])
def test_tap_refuses_a_device_it_does_not_own(tmp_path, as_user, owner, expected):
    run = FakeRun()
    with pytest.raises(LaunchError, match=expected):
        cmd_tap(instance(interfaces=[{"tap": "vm-web0"}]), run, _sys_net(tmp_path, {"vm-web0": owner}))
    assert run.calls == []


def test_tap_reports_ip_errors(tmp_path, as_user):
    with pytest.raises(LaunchError, match="ip tuntap add dev vm-web0 mode tap user microvm-web failed: RTNETLINK: no"):
        cmd_tap(instance(interfaces=[{"tap": "vm-web0"}]), FakeRun(returncode=2, stderr=b"RTNETLINK: no\n"), str(tmp_path))


def test_tap_without_user(monkeypatch):
    from ansible_collections.microvm.credentials.plugins.module_utils._launcher import launch as _launcher

    def missing(name):
        raise KeyError(name)
    monkeypatch.setattr(_launcher.pwd, "getpwnam", missing)
    with pytest.raises(LaunchError, match="user microvm-web does not exist"):
        cmd_tap(instance(interfaces=[{"tap": "vm-web0"}]), FakeRun())


def test_a_process_of_another_user_is_alive(monkeypatch):
    import errno
    from ansible_collections.microvm.credentials.plugins.module_utils._launcher import launch as _launcher

    def kill(pid, sig):
        raise OSError(errno.EPERM if pid == 1 else errno.ESRCH, "no")
    monkeypatch.setattr(_launcher.os, "kill", kill)
    assert _launcher._alive(1)
    assert not _launcher._alive(2)


def test_each_boot_marks_the_serial_log_it_appends_to(tmp_path):
    log = tmp_path / "serial.log"
    log.write_bytes(b"earlier boot\n")
    mark_serial_log(instance(serial_log=str(log)))
    mark_serial_log(instance(serial_log=str(log)))
    lines = log.read_text().splitlines()
    assert lines[0] == "earlier boot"
    assert [line.split(" time=")[0] for line in lines[1:]] == [BOOT_MARKER + " name=web"] * 2


def test_the_first_boot_creates_the_serial_log_0600(tmp_path):
    log = tmp_path / "serial.log"
    mark_serial_log(instance(serial_log=str(log)))
    assert log.read_text().startswith(BOOT_MARKER + " name=web time=")
    assert log.stat().st_mode & 0o777 == 0o600


def test_no_serial_log_no_mark(monkeypatch):
    monkeypatch.setattr(os, "open", None)  # would raise if called
    mark_serial_log(instance(serial_log=None))


def test_exec_waits_for_each_share_socket(tmp_path):
    path = str(tmp_path / "data.sock")
    with pytest.raises(LaunchError, match="virtiofsd's socket %s" % path):
        wait_for_shares(instance(shares=[{"tag": "data", "socket": path}]), timeout=0.2)
    (tmp_path / "plain").write_text("not a socket")
    with pytest.raises(LaunchError):
        wait_for_shares(instance(shares=[{"tag": "p", "socket": str(tmp_path / "plain")}]), timeout=0.2)
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(path)
        wait_for_shares(instance(shares=[{"tag": "data", "socket": path}]), timeout=0.2)
    finally:
        sock.close()
    wait_for_shares(instance(), timeout=0)  # no shares, nothing to wait for
