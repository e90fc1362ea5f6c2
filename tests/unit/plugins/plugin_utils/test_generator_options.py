from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

import pytest

from ansible_collections.microvm.credentials.plugins.plugin_utils._schema.instances import ConfigError, normalize_instances

PATH = "microvm_instances.web.credentials"


def creds(**credentials):
    return normalize_instances({"web": {"kernel": "/k", "credentials": credentials}})[0]["credentials"]


def by_id(credentials):
    return dict((c["id"], c) for c in credentials)


def test_key_pair_defaults():
    got = by_id(creds(host={"generate": {"type": "ssh"}}, wg={"generate": {"type": "wireguard"}},
                      ca={"inject": False, "generate": {"type": "ca"}}, cert={"generate": {"type": "tls", "dns": ["web.example"], "ca": "ca"}}))
    assert got["host"]["generate"] == {"type": "ssh", "key_type": "ed25519", "bits": None, "curve": None, "comment": ""}
    assert got["wg"]["generate"] == {"type": "wireguard"}
    assert got["ca"]["generate"] == {"type": "ca", "key_type": "ecdsa", "bits": None, "curve": "p256", "common_name": "ca", "days": 3650}
    assert got["cert"]["generate"] == {"type": "tls", "key_type": "ecdsa", "bits": None, "curve": "p256", "dns": ["web.example"], "ips": [],
                                       "common_name": "web.example", "days": 365, "ca": "ca"}


def test_rsa_gets_4096_bits_by_default():
    assert creds(k={"generate": {"type": "ssh", "key_type": "rsa"}})[0]["generate"]["bits"] == 4096


def test_command_defaults():
    (cmd,) = creds(tok={"generate": {"type": "command", "argv": ["openssl", "rand", "-hex", "16"]}})
    assert cmd["generate"] == {"type": "command", "argv": ["openssl", "rand", "-hex", "16"], "inputs": [], "stdin": None,
                               "output": None, "public_output": None, "timeout": 60}


def test_inject_public_adds_a_guest_credential_for_the_public_half():
    got = by_id(creds(host={"inject": False, "inject_public": "ssh.pub", "generate": {"type": "ssh"}}))
    assert got["host.pub"] == {"id": "host.pub", "name": "ssh.pub", "binary": False, "inject": True, "public_of": "host"}
    assert got["host"]["inject_public"] == "ssh.pub"


CMD = {"type": "command", "argv": ["true"]}


def cmd(**options):
    spec = copy.deepcopy(CMD)
    spec.update(options)
    return {"generate": spec}


@pytest.mark.parametrize("credentials,path,match", [
    ({"k": {"generate": {"type": "ssh", "key_type": "rsa", "bits": 2048}}}, "k.generate.bits", "between 3072 and 16384"),
    ({"k": {"generate": {"type": "ssh", "key_type": "dsa"}}}, "k.generate.key_type", "must be one of"),
    ({"k": {"generate": {"type": "ssh", "bits": 4096}}}, "k.generate.bits", "rsa only"),
    ({"k": {"generate": {"type": "ssh", "key_type": "ecdsa", "curve": "p192"}}}, "k.generate.curve", "must be one of"),
    ({"k": {"generate": {"type": "ssh", "curve": "p256"}}}, "k.generate.curve", "ecdsa only"),
    ({"k": {"generate": {"type": "ssh", "comment": "a\nb"}}}, "k.generate.comment", "printable ASCII"),
    ({"k": {"generate": {"type": "wireguard", "bits": 1}}}, "k.generate", "unknown key"),
    ({"k": {"generate": {"type": "tls", "dns": ["bad name"]}}}, "k.generate.dns[0]", "a DNS name"),
    ({"k": {"generate": {"type": "tls", "ips": ["10.0.0.300"]}}}, "k.generate.ips[0]", "IPv4 or IPv6"),
    ({"k": {"generate": {"type": "tls", "days": 0}}}, "k.generate.days", "between 1"),
    ({"k": {"generate": {"type": "tls", "ca": "nope"}}}, "k.generate.ca", "generate.type ca"),
    ({"k": {"generate": {"type": "tls", "ca": "pw"}}, "pw": {"generate": {"type": "password"}}}, "k.generate.ca", "generate.type ca"),
    ({"k": cmd(argv=[])}, "k.generate.argv", "is required"),
    ({"k": cmd(argv="openssl rand")}, "k.generate.argv", "must be a list"),
    ({"k": cmd(argv=["a", 1])}, "k.generate.argv[1]", "string"),
    ({"k": cmd(inputs=["nope"])}, "k.generate.inputs[0]", "another credential"),
    ({"k": cmd(inputs=["k"])}, "k.generate.inputs[0]", "another credential"),
    ({"k": cmd(inputs=["a", "a"]), "a": {"generate": {"type": "hex"}}}, "k.generate.inputs[1]", "each once"),
    ({"k": cmd(stdin="a")}, "k.generate.stdin", "one of inputs"),
    ({"k": cmd(output="../x")}, "k.generate.output", "file name"),
    ({"k": cmd(public_output="key.pub")}, "k.generate.public_output", "needs output"),
    ({"k": cmd(output="key", public_output="key")}, "k.generate.public_output", "must differ"),
    ({"k": cmd(timeout=0)}, "k.generate.timeout", "between 1"),
    ({"k": {"inject_public": "k.pub", "generate": {"type": "hex"}}}, "k.inject_public", "public half"),
    ({"k": {"inject_public": "k.pub", "generate": CMD}}, "k.inject_public", "public half"),
    ({"k": {"inject_public": "a/b", "generate": {"type": "ssh"}}}, "k.inject_public", "not valid"),
    ({"k": {"inject_public": "x", "generate": {"type": "ssh"}}, "x": {"generate": {"type": "hex"}}}, "k.inject_public", "guest name x"),
    ({"k": {"inject_public": "y", "generate": {"type": "ssh"}}, "k.pub": {"generate": {"type": "hex"}}}, "k.inject_public", "k.pub"),
    ({"a": cmd(inputs=["b"]), "b": cmd(inputs=["a"])}, "a.generate.inputs", "dependency cycle a -> b -> a"),
])
def test_bad_generators_name_the_variable(credentials, path, match):
    with pytest.raises(ConfigError, match=match) as info:
        creds(**credentials)
    assert info.value.path == "%s.%s" % (PATH, path)
