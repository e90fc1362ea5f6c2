from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import os
import re

import pytest

from ansible_collections.microvm.credentials.plugins.plugin_utils._schema.instances import (
    ConfigError,
    guest_warnings,
    host_view,
    normalize_instances,
)
from ansible_collections.microvm.credentials.plugins.plugin_utils._schema.guest_credentials import (
    WELL_KNOWN,
    required_version,
    version_warnings,
)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))

SPEC = {
    "hypervisor": "qemu",
    "kernel": "/srv/vmlinuz",
    "credentials": {
        "machine-id": {"name": "system.machine_id", "generate": {"type": "hex", "bytes": 16}},
        "root-hash": {"name": "passwd.hashed-password.root", "generate": {"type": "passlib", "password_of": "root-pw"}},
        "root-pw": {"inject": False, "generate": {"type": "password"}},
        "hostname": {"name": "system.hostname", "inject": False, "generate": {"type": "hex"}},
        "signing": {"generate": {"type": "ssh"}, "inject": False, "inject_public": "home.add-signing-key.web.public"},
        "app": {"name": "app.token", "generate": {"type": "hex"}},
    },
    "oem_strings": ["plain text", "io.systemd.credential:shell.welcome=hello", "io.systemd.credential:tmpfiles.extra=d /x"],
}


def warnings_for(guest_systemd, spec=None):
    spec = copy.deepcopy(SPEC if spec is None else spec)
    if guest_systemd is not None:
        spec["guest_systemd"] = guest_systemd
    (web,) = normalize_instances({"web": spec})
    return guest_warnings(web)


def test_required_version_of_names_and_prefixes():
    assert required_version("passwd.hashed-password.root") == ("passwd.hashed-password.root", 252)
    assert required_version("system.machine_id") == ("system.machine_id", 254)
    assert required_version("network.network.50-eth0") == ("network.network.*", 256)
    # A prefix entry needs something after its dot; names systemd does not read have no version.
    for name in ("network.network.", "network.network", "system.machine_idx", "db.password", "ssh.authorized_keys.admin"):
        assert required_version(name) is None, name


def test_the_table_has_each_name_once_and_only_releases_with_smbios_import():
    names = [name for name, dummy, dummy in WELL_KNOWN]
    assert len(names) == len(set(names))
    assert all(isinstance(v, int) and v >= 252 for dummy, v, dummy in WELL_KNOWN)


def test_no_warning_without_a_declared_guest_systemd():
    assert warnings_for(None) == []
    assert version_warnings(None, {"system.machine_id": "x"}) == []


def test_warnings_name_the_variable_the_credential_and_the_release():
    warnings = warnings_for(252)
    assert warnings == [
        "microvm_instances.web.credentials.machine-id.name: credential system.machine_id needs guest systemd 254 or later "
        "(system.machine_id in systemd.system-credentials(7)); this instance's guest_systemd is 252, so the guest ignores it",
        "microvm_instances.web.credentials.signing.inject_public: credential home.add-signing-key.web.public needs guest "
        "systemd 258 or later (home.add-signing-key.* in systemd.system-credentials(7)); this instance's guest_systemd is 252, "
        "so the guest ignores it",
        "microvm_instances.web.oem_strings[1]: credential shell.welcome needs guest systemd 257 or later "
        "(shell.welcome in systemd.system-credentials(7)); this instance's guest_systemd is 252, so the guest ignores it",
    ]


def test_a_newer_guest_gets_fewer_warnings():
    assert [w.split(":")[0] for w in warnings_for(257)] == ["microvm_instances.web.credentials.signing.inject_public"]
    assert warnings_for(258) == []


def test_credentials_that_stay_on_the_controller_never_warn():
    # system.hostname (254) and the private signing key have inject: false.
    assert not [w for w in warnings_for(252) if "system.hostname" in w or "credentials.signing.name" in w]


@pytest.mark.parametrize("value, message", [
    (251, "guest_systemd: systemd 251 does not import SMBIOS type 11 credentials; the guest needs systemd 252 or later"),
    ("257", "guest_systemd: must be an integer, got '257'"),
    (True, "guest_systemd: must be an integer, got True"),
    (0, "guest_systemd: must be between 1 and 100000, got 0"),
])
def test_guest_systemd_is_checked(value, message):
    with pytest.raises(ConfigError, match=re.escape("microvm_instances.web." + message)):
        warnings_for(value)


def test_guest_systemd_stays_on_the_controller():
    spec = dict(copy.deepcopy(SPEC), guest_systemd=257)
    (web,) = normalize_instances({"web": spec})
    assert web["guest_systemd"] == 257
    assert "guest_systemd" not in host_view(web)


def test_the_readme_lists_every_credential_of_the_table_with_its_release():
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    section = readme.split("<!-- guest-credentials: begin -->", 1)[1].split("<!-- guest-credentials: end -->", 1)[0]
    rows = re.findall(r"^\| `([^`]+)` \| (\d+) \|", section, re.M)
    assert sorted((name, int(version)) for name, version in rows) == sorted((name, version) for name, version, dummy in WELL_KNOWN)
