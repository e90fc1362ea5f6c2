from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

import pytest

from ansible_collections.microvm.credentials.plugins.plugin_utils._config import ConfigError, normalize_instances

BASE = {
    "hypervisor": "qemu",
    "kernel": "/srv/vmlinuz",
    "disks": [{"path": "/var/lib/microvm/web/root.qcow2", "format": "qcow2", "interface": "nvme"}],
    "credentials": {
        "db": {"name": "db.password", "generate": {"type": "password"}},
        "root-pw": {"inject": False, "generate": {"type": "password", "length": 12}},
        "root-hash": {"name": "passwd.hashed-password.root", "generate": {"type": "passlib", "password_of": "root-pw"}},
        "cert": {"src": "files/cert.pem"},
    },
    "oem_strings": ["io.systemd.credential:banner=hi"],
}


def norm(spec=None, **changes):
    spec = copy.deepcopy(BASE if spec is None else spec)
    spec.update(changes)
    return normalize_instances({"web": spec})


def test_defaults_and_derived_paths():
    (web,) = norm()
    assert web["name"] == "web" and web["vcpu"] == 1 and web["mem"] == 512
    assert web["runtime_dir"] == "/run/microvm/web" and web["api_socket"] == "/run/microvm/web/api.sock"
    assert web["serial_log"] == "/var/log/microvm/web/serial.log"
    assert [c["id"] for c in web["credentials"]] == ["cert", "db", "root-hash", "root-pw"]
    db = [c for c in web["credentials"] if c["id"] == "db"][0]
    assert db == {"id": "db", "name": "db.password", "binary": None, "inject": True,
                  "generate": {"type": "password", "length": 24, "chars": db["generate"]["chars"]}}


def test_no_secret_values_in_output():
    assert "value" not in str(norm())


def test_hypervisor_default_is_cloud_hypervisor():
    spec = copy.deepcopy(BASE)
    del spec["hypervisor"]
    spec["disks"] = [{"path": "/d.raw"}]
    assert norm(spec)[0]["hypervisor"] == "cloud-hypervisor"


def test_shares_get_socket_paths():
    (web,) = norm(shares=[{"tag": "data", "source": "/srv/data"}])
    assert web["shares"] == [{"tag": "data", "source": "/srv/data", "socket": "/run/microvm-virtiofsd/web.data.sock"}]


BAD = [
    ({"hypervisor": "firecracker"}, "microvm_instances.web.hypervisor"),
    ({"vcpu": 0}, "microvm_instances.web.vcpu"),
    ({"vcpu": "2"}, "microvm_instances.web.vcpu"),
    ({"mem": True}, "microvm_instances.web.mem"),
    ({"kernel": "relative/vmlinuz"}, "microvm_instances.web.kernel"),
    ({"kernel": None}, "microvm_instances.web.kernel"),
    ({"kernel": "/a,b"}, "microvm_instances.web.kernel"),
    ({"machine": "microvm"}, "microvm_instances.web.machine"),
    ({"accel": "hvf"}, "microvm_instances.web.accel"),
    ({"cmdline": "a\nb"}, "microvm_instances.web.cmdline"),
    ({"colour": "blue"}, "microvm_instances.web"),
    ({"disks": {"path": "/x"}}, "microvm_instances.web.disks"),
    ({"disks": [{"path": "/x", "format": "vmdk"}]}, "microvm_instances.web.disks[0].format"),
    ({"disks": [{}]}, "microvm_instances.web.disks[0].path"),
    ({"interfaces": [{"tap": "a-very-long-tap-name"}]}, "microvm_instances.web.interfaces[0].tap"),
    ({"interfaces": [{"tap": "tap0", "mac": "zz"}]}, "microvm_instances.web.interfaces[0].mac"),
    ({"shares": [{"tag": "t", "source": "/a"}, {"tag": "t", "source": "/b"}]}, "microvm_instances.web.shares[1].tag"),
    ({"vsock_cid": 2}, "microvm_instances.web.vsock_cid"),
    ({"stop_timeout": 0}, "microvm_instances.web.stop_timeout"),
    ({"oem_strings": ["ok", ""]}, "microvm_instances.web.oem_strings[1]"),
    ({"oem_strings": "not-a-list"}, "microvm_instances.web.oem_strings"),
    ({"oem_strings": ["io.systemd.credential:db.password=clash"]}, "microvm_instances.web.oem_strings[0]"),
    ({"oem_strings": ["io.systemd.credential:x=1", "io.systemd.credential:x=2"]}, "microvm_instances.web.oem_strings"),
    ({"credentials": []}, "microvm_instances.web.credentials"),
    ({"credentials": {"a b": {"generate": {"type": "hex"}}}}, "microvm_instances.web.credentials.a b"),
    ({"credentials": {"a": {"name": "bad/name", "generate": {"type": "hex"}}}}, "microvm_instances.web.credentials.a.name"),
    ({"credentials": {"a": {"name": "x:y", "generate": {"type": "hex"}}}}, "microvm_instances.web.credentials.a.name"),
    ({"credentials": {"a": {}}}, "microvm_instances.web.credentials.a"),
    ({"credentials": {"a": {"src": "f", "generate": {"type": "hex"}}}}, "microvm_instances.web.credentials.a"),
    ({"credentials": {"a": {"generate": {"type": "uuid"}}}}, "microvm_instances.web.credentials.a.generate.type"),
    ({"credentials": {"a": {"generate": {"type": "hex", "bytes": 0}}}}, "microvm_instances.web.credentials.a.generate.bytes"),
    ({"credentials": {"a": {"generate": {"type": "hex", "length": 3}}}}, "microvm_instances.web.credentials.a.generate"),
    ({"credentials": {"a": {"generate": {"type": "password", "length": 4}}}}, "microvm_instances.web.credentials.a.generate.length"),
    ({"credentials": {"a": {"generate": {"type": "password", "chars": "aaaa"}}}}, "microvm_instances.web.credentials.a.generate.chars"),
    ({"credentials": {"a": {"generate": {"type": "passlib"}}}}, "microvm_instances.web.credentials.a.generate.password_of"),
    ({"credentials": {"a": {"generate": {"type": "passlib", "password_of": "nope"}}}}, "microvm_instances.web.credentials.a.generate.password_of"),
    ({"credentials": {"a": {"generate": {"type": "passlib", "scheme": "SHA-512", "password_of": "b"}}, "b": {"src": "x"}}},
     "microvm_instances.web.credentials.a.generate.scheme"),
    ({"credentials": {"a": {"generate": {"type": "bytes"}, "binary": False}}}, "microvm_instances.web.credentials.a.binary"),
    ({"credentials": {"a": {"generate": {"type": "hex"}, "binary": "yes"}}}, "microvm_instances.web.credentials.a.binary"),
    ({"credentials": {"a": {"generate": {"type": "hex"}, "inject": "no"}}}, "microvm_instances.web.credentials.a.inject"),
    ({"credentials": {"a": {"name": "same", "generate": {"type": "hex"}}, "b": {"name": "same", "src": "f"}}},
     "microvm_instances.web.credentials.b.name"),
    ({"credentials": {"a": {"src": ""}}}, "microvm_instances.web.credentials.a.src"),
]


@pytest.mark.parametrize("changes,path", BAD, ids=[p + ":" + ",".join(sorted(c)) for c, p in BAD])
def test_bad_input_names_the_variable(changes, path):
    with pytest.raises(ConfigError) as err:
        norm(**changes)
    assert err.value.path == path
    assert str(err.value).startswith(path + ": ")


def test_nvme_needs_qemu():
    spec = copy.deepcopy(BASE)
    spec["hypervisor"] = "cloud-hypervisor"
    with pytest.raises(ConfigError) as err:
        norm(spec)
    assert err.value.path == "microvm_instances.web.disks[0].interface"


def test_bad_instance_name_and_type():
    with pytest.raises(ConfigError, match=r"microvm_instances\.Web"):
        normalize_instances({"Web": BASE})
    with pytest.raises(ConfigError, match="must be a mapping"):
        normalize_instances(["web"])


def test_duplicate_vsock_cid_across_instances():
    a = dict(BASE, vsock_cid=10)
    with pytest.raises(ConfigError) as err:
        normalize_instances({"a": a, "b": a})
    assert err.value.path == "microvm_instances.b.vsock_cid"


def test_custom_variable_name_in_errors():
    with pytest.raises(ConfigError, match=r"^my_vms\.web\.vcpu"):
        normalize_instances({"web": dict(BASE, vcpu=-1)}, var_name="my_vms")
