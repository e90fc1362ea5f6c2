from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

import pytest

from ansible_collections.microvm.credentials.plugins.plugin_utils._schema.instances import (
    CONTROLLER_KEYS,
    NAME_MAX,
    ConfigError,
    check_credential_directory,
    host_view,
    normalize_instances,
)

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
                  "generate": {"type": "password", "length": 24, "chars": db["generate"]["chars"]},
                  "scope": "instance", "max_age": None, "renew_before": None, "regenerate_on_change": False, "not_after": None}


def test_no_secret_values_in_output():
    assert "value" not in str(norm())


def test_hypervisor_default_is_cloud_hypervisor():
    spec = copy.deepcopy(BASE)
    del spec["hypervisor"]
    spec["disks"] = [{"path": "/d.raw"}]
    assert norm(spec)[0]["hypervisor"] == "cloud-hypervisor"


def test_shares_get_socket_paths():
    (web,) = norm(shares=[{"tag": "data", "source": "/srv/data"}])
    assert web["shares"] == [{"tag": "data", "source": "/srv/data", "socket": "/run/microvm-virtiofsd/web/data.sock"}]


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
    ({"oem_strings": ["io.systemd.credential:x=1", "io.systemd.credential:x=2"]}, "microvm_instances.web.oem_strings[1]"),
    ({"oem_strings": ["io.systemd.credential:a b=1"]}, "microvm_instances.web.oem_strings[0]"),
    ({"credentials": []}, "microvm_instances.web.credentials"),
    ({"credentials": {"a b": {"generate": {"type": "hex"}}}}, "microvm_instances.web.credentials.a b"),
    ({"credentials": {"a": {"name": "bad/name", "generate": {"type": "hex"}}}}, "microvm_instances.web.credentials.a.name"),
    ({"credentials": {"a": {"name": "x:y", "generate": {"type": "hex"}}}}, "microvm_instances.web.credentials.a.name"),
    ({"credentials": {"a": {}}}, "microvm_instances.web.credentials.a"),
    ({"credentials": {"a": {"src": "f", "generate": {"type": "hex"}}}}, "microvm_instances.web.credentials.a"),
    ({"credentials": {"a": {"generate": {"type": "guid"}}}}, "microvm_instances.web.credentials.a.generate.type"),
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


@pytest.mark.parametrize("b_source", ["/srv/data", "/srv/data/", "/srv/data/sub", "/srv"])
def test_a_share_source_belongs_to_one_instance(b_source):
    a = dict(BASE, shares=[{"tag": "d", "source": "/srv/data"}])
    b = dict(BASE, disks=[{"path": "/srv/b.img"}], shares=[{"tag": "x", "source": "/srv/other"}, {"tag": "d", "source": b_source}])
    with pytest.raises(ConfigError, match=r"^microvm_instances\.b\.shares\[1\]\.source: .* overlaps .*microvm_instances\.a\.shares\[0\]"):
        normalize_instances({"a": a, "b": b})
    # Within one instance, and beside each other, sources are fine.
    normalize_instances({"a": dict(a, shares=[{"tag": "d", "source": "/srv/data"}, {"tag": "e", "source": "/srv/data/sub"}]),
                         "b": dict(b, shares=[{"tag": "d", "source": "/srv/data2"}])})


def test_a_disk_belongs_to_one_instance():
    shared = {"path": "/srv/shared.img", "readonly": True}
    normalize_instances({"a": dict(BASE, disks=[shared]), "b": dict(BASE, disks=[{"path": "/srv/b.img"}])})
    with pytest.raises(ConfigError, match=r"^microvm_instances\.b\.disks\[1\]\.path: /srv/shared.img is also a disk of "
                                          r"microvm_instances\.a\.disks\[0\]"):
        normalize_instances({"a": dict(BASE, disks=[shared]), "b": dict(BASE, disks=[{"path": "/srv/b.img"}, shared])})
    with pytest.raises(ConfigError, match=r"^microvm_instances\.a\.disks\[1\]\.path"):
        normalize_instances({"a": dict(BASE, disks=[shared, shared])})


def test_custom_variable_name_in_errors():
    with pytest.raises(ConfigError, match=r"^my_vms\.web\.vcpu"):
        normalize_instances({"web": dict(BASE, vcpu=-1)}, var_name="my_vms")


# -- every validated name and value refuses control characters ----------------

CONTROL = ["\n", "\r", "\t", "\x00", "\x01", "\x1b", "\x7f", "\x85"]


def _with_cred(cred_id="c", **cred):
    spec = copy.deepcopy(BASE)
    spec["credentials"] = {cred_id: dict({"generate": {"type": "hex"}}, **cred)}
    return spec


def _passlib(scheme="sha512_crypt", password_of="pw"):
    spec = copy.deepcopy(BASE)
    spec["credentials"] = {"pw": {"inject": False, "generate": {"type": "password"}},
                           "c": {"generate": {"type": "passlib", "scheme": scheme, "password_of": password_of}}}
    return spec


# (name, build(value) -> (instances mapping), error path, a valid value)
FIELDS = [
    ("instance", lambda v: {v: BASE}, "microvm_instances.%s", "web"),
    ("credential id", lambda v: {"web": _with_cred(v)}, "microvm_instances.web.credentials.%s", "db"),
    ("credential name", lambda v: {"web": _with_cred(name=v)}, "microvm_instances.web.credentials.c.name", "db.password"),
    ("tap", lambda v: {"web": dict(BASE, interfaces=[{"tap": v}])}, "microvm_instances.web.interfaces[0].tap", "tap0"),
    ("mac", lambda v: {"web": dict(BASE, interfaces=[{"tap": "t", "mac": v}])}, "microvm_instances.web.interfaces[0].mac",
     "52:54:00:12:34:56"),
    ("tag", lambda v: {"web": dict(BASE, shares=[{"tag": v, "source": "/s"}])}, "microvm_instances.web.shares[0].tag", "data"),
    ("share source", lambda v: {"web": dict(BASE, shares=[{"tag": "t", "source": v}])}, "microvm_instances.web.shares[0].source",
     "/srv/data"),
    ("kernel", lambda v: {"web": dict(BASE, kernel=v)}, "microvm_instances.web.kernel", "/boot/vmlinuz"),
    ("initrd", lambda v: {"web": dict(BASE, initrd=v)}, "microvm_instances.web.initrd", "/boot/initrd"),
    ("firmware", lambda v: {"web": dict(BASE, firmware=v)}, "microvm_instances.web.firmware", "/fw.bin"),
    ("binary", lambda v: {"web": dict(BASE, binary=v)}, "microvm_instances.web.binary", "/usr/bin/qemu"),
    ("disk path", lambda v: {"web": dict(BASE, disks=[{"path": v}])}, "microvm_instances.web.disks[0].path", "/d.raw"),
    ("cmdline", lambda v: {"web": dict(BASE, cmdline=v)}, "microvm_instances.web.cmdline", "console=ttyS0"),
    ("hypervisor", lambda v: {"web": dict(BASE, hypervisor=v)}, "microvm_instances.web.hypervisor", "qemu"),
    ("accel", lambda v: {"web": dict(BASE, accel=v)}, "microvm_instances.web.accel", "kvm"),
    ("machine", lambda v: {"web": dict(BASE, machine=v)}, "microvm_instances.web.machine", "q35"),
    ("disk format", lambda v: {"web": dict(BASE, disks=[{"path": "/d", "format": v}])}, "microvm_instances.web.disks[0].format",
     "raw"),
    ("disk interface", lambda v: {"web": dict(BASE, disks=[{"path": "/d", "interface": v}])},
     "microvm_instances.web.disks[0].interface", "nvme"),
    ("generate type", lambda v: {"web": _with_cred(generate={"type": v})}, "microvm_instances.web.credentials.c.generate.type", "hex"),
    ("passlib scheme", lambda v: {"web": _passlib(scheme=v)}, "microvm_instances.web.credentials.c.generate.scheme", "sha512_crypt"),
    ("password_of", lambda v: {"web": _passlib(password_of=v)}, "microvm_instances.web.credentials.c.generate.password_of", "pw"),
    ("password chars", lambda v: {"web": _with_cred(generate={"type": "password", "chars": v})},
     "microvm_instances.web.credentials.c.generate.chars", "abcdef"),
    ("static credential name", lambda v: {"web": dict(BASE, oem_strings=["io.systemd.credential:%s=x" % v])},
     "microvm_instances.web.oem_strings[0]", "banner"),
]


@pytest.mark.parametrize("field,build,path,good", FIELDS, ids=[f[0] for f in FIELDS])
def test_valid_value_of_every_field_passes(field, build, path, good):
    normalize_instances(build(good))


@pytest.mark.parametrize("where", ["end", "start", "middle"])
@pytest.mark.parametrize("control", CONTROL, ids=[repr(c) for c in CONTROL])
@pytest.mark.parametrize("field,build,path,good", FIELDS, ids=[f[0] for f in FIELDS])
def test_control_characters_are_rejected_everywhere(field, build, path, good, control, where):
    value = {"end": good + control, "start": control + good, "middle": good[:1] + control + good[1:]}[where]
    with pytest.raises(ConfigError) as err:
        normalize_instances(build(value))
    assert err.value.path == (path.replace(".%s", "[%r]") % value if "%s" in path else path)


def test_static_oem_string_values_keep_newlines():
    (web,) = norm(oem_strings=["io.systemd.credential:motd=line 1\nline 2\n", "free\ttext"])
    assert web["oem_strings"][0].endswith("line 2\n")


# -- lengths ------------------------------------------------------------------

def test_instance_name_at_most_23_characters():
    normalize_instances({"w" * 23: BASE})
    with pytest.raises(ConfigError) as err:
        normalize_instances({"w" * 24: BASE})
    assert err.value.path == "microvm_instances." + "w" * 24 and "1 to 23 characters" in str(err.value)


def test_credential_name_at_most_236_characters():
    normalize_instances({"web": _with_cred(name="n" * 236)})
    with pytest.raises(ConfigError) as err:
        normalize_instances({"web": _with_cred(name="n" * 237)})
    assert err.value.path == "microvm_instances.web.credentials.c.name" and "at most 236" in str(err.value)


# -- passlib --------------------------------------------------------------------

@pytest.mark.parametrize("scheme", ["sha512_crypt", "sha256_crypt", "bcrypt"])
def test_crypt_schemes_accepted(scheme):
    (web,) = normalize_instances({"web": _passlib(scheme)})
    assert [c for c in web["credentials"] if c["id"] == "c"][0]["generate"]["scheme"] == scheme


@pytest.mark.parametrize("scheme", ["plaintext", "ldap_plaintext", "md5_crypt", "des_crypt", "hex_sha512", "argon2",
                                    "yescrypt", "unix_disabled", "SHA512_CRYPT", None, 5])
def test_other_schemes_rejected(scheme):
    with pytest.raises(ConfigError) as err:
        normalize_instances({"web": _passlib(scheme)})
    assert err.value.path == "microvm_instances.web.credentials.c.generate.scheme"


@pytest.mark.parametrize("generator,path", [
    ({"type": "password", "length": 73}, "length"),
    ({"type": "hex", "bytes": 37}, "bytes"),
    ({"type": "base64", "bytes": 55}, "bytes"),
])
def test_bcrypt_password_longer_than_72_bytes_rejected(generator, path):
    spec = _passlib("bcrypt")
    spec["credentials"]["pw"]["generate"] = generator
    with pytest.raises(ConfigError) as err:
        normalize_instances({"web": spec})
    assert err.value.path == "microvm_instances.web.credentials.pw.generate." + path
    assert "microvm_instances.web.credentials.c.generate.scheme" in str(err.value)


def test_bcrypt_password_of_72_bytes_accepted():
    spec = _passlib("bcrypt")
    spec["credentials"]["pw"]["generate"] = {"type": "password", "length": 72}
    normalize_instances({"web": spec})
    spec["credentials"]["pw"]["generate"] = {"type": "base64", "bytes": 54}  # 72 characters
    normalize_instances({"web": spec})


# -- host options ---------------------------------------------------------------

@pytest.mark.parametrize("directory", [
    "relative/creds", "creds", "", "/", "/var/lib/creds/", "/var/lib/../creds", "/var//creds", "/var/./creds",
    "/var/lib/cre ds", "/var/lib/%i", "/var/lib/a\\b", "/var/lib/\"q\"", None, 5,
] + ["/var/lib/creds" + c for c in CONTROL] + ["/var/li" + c + "b/creds" for c in CONTROL])
def test_credential_directory_must_be_absolute_and_plain(directory):
    with pytest.raises(ConfigError) as err:
        check_credential_directory(directory, norm())
    assert err.value.path == "microvm_credential_directory" and str(err.value).startswith("microvm_credential_directory: ")


def test_credential_directory_accepts_plain_absolute_paths():
    for directory in ("/var/lib/microvm-credentials", "/srv/a_b.c/d@e+f:g=h"):
        assert check_credential_directory(directory, norm()) == directory


def test_credential_directory_component_length():
    with pytest.raises(ConfigError, match="longer than 255"):
        check_credential_directory("/" + "d" * 256, norm())


def test_credential_directory_path_chain_fits_path_max():
    instances = normalize_instances({"w" * 23: _with_cred(name="n" * 236)})
    # DIRECTORY/INSTANCE/.NAME.cred.XXXXXXXX.tmp is at most 4095 bytes (PATH_MAX without its NUL).
    budget = 4095 - len("/" + "w" * 23 + "/." + "n" * 236 + ".cred.12345678.tmp")
    fits = ("/" + "d" * 254) * (budget // 255) + "/" + "d" * (budget % 255 - 1)
    assert len(fits) == budget
    check_credential_directory(fits, instances)
    with pytest.raises(ConfigError) as err:
        check_credential_directory(fits + "d", instances)
    assert err.value.path == "microvm_credential_directory"
    assert "w" * 23 + "/" + "n" * 236 in str(err.value) and "at most 4095" in str(err.value)


def test_credentials_not_injected_do_not_count_for_the_host_path():
    instances = normalize_instances({"web": _with_cred(name="n" * 236, inject=False)})
    check_credential_directory("/" + "/".join(["d" * 250] * 16), instances)


def test_custom_directory_variable_name():
    with pytest.raises(ConfigError, match="^my_dir: "):
        check_credential_directory("rel", [], var_name="my_dir")


# -- credential names and static strings (validated here only; the host trusts them) --

def test_name_max_leaves_room_for_the_host_temporary_file():
    # "." + NAME + ".cred." + 8 random characters + ".tmp" must fit one 255-byte file name.
    assert len(".%s.cred.%s.tmp" % ("n" * NAME_MAX, "x" * 8)) == 255


@pytest.mark.parametrize("name", ["a", "db.password", "passwd.hashed-password.root", "x@y", "A_9+z", "n" * 236])
def test_valid_credential_names(name):
    (web,) = normalize_instances({"web": _with_cred(name=name)})
    assert [c["name"] for c in web["credentials"]] == [name]


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "a:b", "a=b", "a b", "-x", ".hidden", "a%i", "é", "n" * 237, None, 3]
                         + ["a" + c for c in CONTROL] + [c + "a" for c in CONTROL] + ["a" + c + "b" for c in CONTROL])
def test_invalid_credential_names(name):
    with pytest.raises(ConfigError) as err:
        normalize_instances({"web": _with_cred(name=name)})
    assert err.value.path == "microvm_instances.web.credentials.c.name"


@pytest.mark.parametrize("bad", ["", "a\x00b", 5, None, "io.systemd.credential:bad\n=x", "io.systemd.credential.binary:a/b=AA=="])
def test_static_strings_rejected(bad):
    with pytest.raises(ConfigError) as err:
        norm(oem_strings=["ok", bad])
    assert err.value.path == "microvm_instances.web.oem_strings[1]"


def test_static_strings_set_a_credential_once():
    with pytest.raises(ConfigError, match=r"oem_strings\[2\]: credential a is set twice"):
        norm(oem_strings=["io.systemd.credential:a=1", "other", "io.systemd.credential.binary:a=AA=="])
    with pytest.raises(ConfigError, match=r"oem_strings\[0\]: sets credential db.password, which microvm_instances.web.credentials"):
        norm(oem_strings=["io.systemd.credential:db.password=x"])
    norm(oem_strings=["io.systemd.credential:a=1", "io.systemd.credential:b=1", "other", "other"])


# -- the host's view --------------------------------------------------------------

def test_host_view_has_nothing_of_the_controller():
    spec = copy.deepcopy(BASE)
    spec["credentials"]["pub"] = {"generate": {"type": "ssh"}, "inject": False, "inject_public": "ssh.pub"}
    (web,) = normalize_instances({"web": spec})
    view = host_view(web)
    assert view["credentials"] == [
        {"name": "cert", "binary": None},
        {"name": "db.password", "binary": None},
        {"name": "ssh.pub", "binary": False},
        {"name": "passwd.hashed-password.root", "binary": None},
    ]
    text = str(view)
    for controller_only in ("files/cert.pem", "generate", "password_of", "root-pw", "public_of", "inject"):
        assert controller_only not in text
    assert dict((k, v) for k, v in view.items() if k != "credentials") == dict((k, v) for k, v in web.items() if k not in CONTROLLER_KEYS)


def test_host_view_keeps_the_credential_order():
    (web,) = norm()
    assert [c["name"] for c in host_view(web)["credentials"]] == [c["name"] for c in web["credentials"] if c["inject"]]
