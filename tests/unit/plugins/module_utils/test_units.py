from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.microvm.credentials.plugins.module_utils._units import (
    desired_files,
    dropin_content,
    instances_to_restart,
    stale_files,
)

PATHS = {"config_dir": "/etc/mc/instances", "unit_dir": "/etc/systemd/system", "virtiofs_dir": "/etc/mc/virtiofs",
         "credential_directory": "/var/lib/microvm-credentials"}


def instance(name="web", shares=()):
    return {"name": name, "stop_timeout": 30,
            "shares": [{"tag": t, "source": "/srv/" + t, "socket": "/run/s/%s.%s.sock" % (name, t)} for t in shares],
            "credentials": [{"id": "db", "name": "db.password", "inject": True, "src": "/controller/path"},
                            {"id": "pw", "name": "pw", "inject": False, "generate": {"type": "password"}}]}


def test_dropin_loads_injected_credentials_only():
    text = dropin_content(instance(), "/var/lib/microvm-credentials", "Ansible managed")
    assert text.startswith("# Ansible managed\n[Service]\n")
    assert "LoadCredentialEncrypted=db.password:/var/lib/microvm-credentials/web/db.password.cred\n" in text
    assert "pw.cred" not in text
    assert "TimeoutStopSec=40\n" in text


def test_dropin_requires_virtiofsd_per_share():
    text = dropin_content(instance(shares=["data"]), "/c")
    assert "Requires=microvm-virtiofsd@web:data.service\n" in text
    assert "After=microvm-virtiofsd@web:data.service\n" in text


def test_desired_files_modes_and_owner_instance():
    files = desired_files([instance(shares=["data"])], PATHS, "h")
    assert files["/etc/mc/instances/web.json"][1:] == (0o600, "web")
    config = json.loads(files["/etc/mc/instances/web.json"][0])
    assert config["name"] == "web"
    assert config["credentials"][0] == {"id": "db", "name": "db.password", "binary": None, "inject": True}
    assert files["/etc/systemd/system/microvm@web.service.d/50-microvm-credentials.conf"][1] == 0o644
    assert files["/etc/mc/virtiofs/web:data.env"][0] == "# h\nSHARED_DIR=/srv/data\nSOCKET_PATH=/run/s/web.data.sock\n"


def test_stale_files():
    gone, stale = stale_files([instance("web", ["a"])], ["web", "old"], ["web:a", "web:b", "old:x"], PATHS)
    assert gone == ["old"]
    assert stale == ["/etc/mc/instances/old.json", "/etc/systemd/system/microvm@old.service.d/50-microvm-credentials.conf",
                     "/etc/mc/virtiofs/old:x.env", "/etc/mc/virtiofs/web:b.env"]


def test_restart_only_changed_running_not_just_started():
    insts = [instance("a"), instance("b"), instance("c"), instance("d")]
    assert instances_to_restart(insts, {"a", "b", "c"}, {"a": True, "b": False, "c": True, "d": True}, {"c"}) == ["a"]
