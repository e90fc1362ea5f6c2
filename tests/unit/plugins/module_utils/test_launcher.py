from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import pytest

from ansible_collections.microvm.credentials.plugins.module_utils._launcher import (
    LaunchError,
    load_instance,
    main,
    pipe_paths,
    oem_strings,
)


def instance(**kw):
    base = {"name": "web", "hypervisor": "qemu", "oem_strings": ["io.systemd.credential:banner=hi"],
            "credentials": [{"id": "db", "name": "db.password", "binary": None, "inject": True},
                            {"id": "key", "name": "wg.key", "binary": True, "inject": True},
                            {"id": "pw", "name": "pw", "binary": None, "inject": False}]}
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


def test_collision_with_static_string(creds):
    with pytest.raises(LaunchError, match="set twice"):
        oem_strings(instance(oem_strings=["io.systemd.credential:db.password=x"]), creds)


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
    assert "cannot read instance configuration" in capsys.readouterr().err


def test_boot_fails_fast_when_the_hypervisor_died(tmp_path):
    import subprocess
    import time
    from ansible_collections.microvm.credentials.plugins.module_utils._launcher import cmd_boot
    dead = subprocess.Popen(["true"])
    dead.wait()
    start = time.monotonic()
    with pytest.raises(LaunchError, match="exited during start"):
        cmd_boot(instance(api_socket=str(tmp_path / "api.sock")), {"MAINPID": str(dead.pid)}, timeout=30)
    assert time.monotonic() - start < 5
