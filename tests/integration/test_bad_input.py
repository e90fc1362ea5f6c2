"""Bad input fails with a clear error naming the variable, and the host is left as it was.

A converged host (one running microVM) is the baseline; every case runs the real
playbook against it and compares a fingerprint of all the host state the
collection manages (files, modes, hashes, unit states) and the controller store.
"""

import copy
import os

import pytest
from conftest import instance

BASE = {"microvm_instances": {"base": instance("base", {"app-token": {"name": "app.token", "generate": {"type": "hex"}}})}}


def with_bad(spec=None, **top):
    group_vars = copy.deepcopy(BASE)
    if spec is not None:
        group_vars["microvm_instances"]["bad"] = spec
    group_vars.update(top)
    return group_vars


def bad(credentials=None, **extra):
    return instance("bad", credentials if credentials is not None else {"c": {"generate": {"type": "hex"}}}, **extra)


def cred(**spec):
    return bad({"c": spec})


CASES = [
    # credential names
    ("name-slash", cred(name="a/b", generate={"type": "hex"}), "microvm_instances.bad.credentials.c.name"),
    ("name-colon", cred(name="a:b", generate={"type": "hex"}), "microvm_instances.bad.credentials.c.name"),
    ("name-space", cred(name="a b", generate={"type": "hex"}), "microvm_instances.bad.credentials.c.name"),
    ("name-dot", cred(name=".hidden", generate={"type": "hex"}), "microvm_instances.bad.credentials.c.name"),
    ("name-too-long", cred(name="n" * 256, generate={"type": "hex"}), "microvm_instances.bad.credentials.c.name"),
    ("name-percent", cred(name="a%i", generate={"type": "hex"}), "microvm_instances.bad.credentials.c.name"),
    ("id-bad", bad({"a b": {"generate": {"type": "hex"}}}), "microvm_instances.bad.credentials.a b"),
    # duplicates and collisions
    ("duplicate-guest-name", bad({"a": {"name": "x", "generate": {"type": "hex"}}, "b": {"name": "x", "generate": {"type": "hex"}}}),
     "microvm_instances.bad.credentials.b.name"),
    ("static-collides", bad(oem_strings=["io.systemd.credential:c=static"]), "microvm_instances.bad.oem_strings[0]"),
    ("static-duplicate", bad(oem_strings=["io.systemd.credential:s=1", "io.systemd.credential:s=2"]), "microvm_instances.bad.oem_strings"),
    ("static-empty", bad(oem_strings=[""]), "microvm_instances.bad.oem_strings[0]"),
    ("static-nul", bad(oem_strings=["a\x00b"]), "microvm_instances.bad.oem_strings[0]"),
    # encodings and sizes (checked with the real values, before anything changes)
    ("text-not-utf8", cred(src="BINFILE", binary=False), "microvm_instances.bad.credentials"),
    ("too-large", cred(src="BIGFILE"), "microvm_instances.bad.credentials"),
    ("too-many", bad(dict(("c%03d" % i, {"generate": {"type": "hex", "bytes": 1}}) for i in range(256))), "microvm_instances.bad.credentials"),
    ("bytes-zero", cred(generate={"type": "hex", "bytes": 0}), "microvm_instances.bad.credentials.c.generate.bytes"),
    ("password-short", cred(generate={"type": "password", "length": 4}), "microvm_instances.bad.credentials.c.generate.length"),
    ("bytes-as-text", cred(generate={"type": "bytes"}, binary=False), "microvm_instances.bad.credentials.c.binary"),
    # generators and sources
    ("generate-unknown", cred(generate={"type": "uuid"}), "microvm_instances.bad.credentials.c.generate.type"),
    ("src-and-generate", cred(src="x", generate={"type": "hex"}), "microvm_instances.bad.credentials.c"),
    ("src-missing", cred(src="/nonexistent/secret.pem"), "microvm_instances.bad.credentials.c.src"),
    ("passlib-no-password", cred(generate={"type": "passlib"}), "microvm_instances.bad.credentials.c.generate.password_of"),
    ("passlib-bad-scheme", bad({"pw": {"inject": False, "generate": {"type": "password"}},
                                "c": {"generate": {"type": "passlib", "scheme": "nosuchscheme", "password_of": "pw"}}}),
     "microvm_instances.bad.credentials.c.generate"),
    # wrong types and values
    ("hypervisor-unknown", bad(hypervisor="firecracker"), "microvm_instances.bad.hypervisor"),
    ("machine-microvm", bad(machine="microvm"), "microvm_instances.bad.machine"),
    ("vcpu-string", bad(vcpu="two"), "microvm_instances.bad.vcpu"),
    ("mem-negative", bad(mem=-1), "microvm_instances.bad.mem"),
    ("kernel-relative", bad(kernel="vmlinuz"), "microvm_instances.bad.kernel"),
    ("disks-not-list", bad(disks={"path": "/x"}), "microvm_instances.bad.disks"),
    ("mac-bad", bad(interfaces=[{"tap": "tap0", "mac": "xx"}]), "microvm_instances.bad.interfaces[0].mac"),
    ("unknown-key", bad(colour="blue"), "microvm_instances.bad"),
    ("instance-name", None, "microvm_instances.Bad"),
    ("instances-not-mapping", None, "microvm_instances"),
    ("rotate-unknown", None, "rotate"),
    # host credential store: a directory the collection does not own (FOREIGN below), a key the host cannot use
    ("directory-foreign", None, "microvm_credential_directory: /opt holds files this collection did not create (for example /opt/otherapp/keep.cred)"),
    ("key-tpm2-without-tpm", bad(), "microvm_credential_key: 'tpm2' needs a TPM2 the host can use"),
]
# Planted on the baseline host; the snapshot covers /opt, so its mode and this file must stay.
FOREIGN = "/opt/otherapp/keep.cred"


def materialise(case_id, spec, tmp_path):
    """Fill in the controller files some cases need."""
    group_vars = with_bad(spec)
    if case_id == "instance-name":
        group_vars["microvm_instances"]["Bad"] = bad()
    if case_id == "instances-not-mapping":
        group_vars["microvm_instances"] = ["base"]
    if case_id == "rotate-unknown":
        group_vars["microvm_rotate"] = ["base/nope"]
    if case_id == "directory-foreign":
        group_vars["microvm_credential_directory"] = os.path.dirname(os.path.dirname(FOREIGN))
    if case_id == "key-tpm2-without-tpm":
        group_vars["microvm_credential_key"] = "tpm2"
    if spec and "c" in spec.get("credentials", {}) and spec["credentials"]["c"].get("src") in ("BINFILE", "BIGFILE"):
        path = os.path.join(str(tmp_path), spec["credentials"]["c"]["src"].lower())
        with open(path, "wb") as f:
            f.write(b"\xff\xfe\x00binary" if spec["credentials"]["c"]["src"] == "BINFILE" else b"x" * 70000)
        spec["credentials"]["c"]["src"] = path
    return group_vars


@pytest.fixture(scope="module")
def baseline(host):
    host.prepare_disk("base")
    host.sh("mkdir -p {0} && echo keep > {1}".format(os.path.dirname(FOREIGN), FOREIGN))
    host.converge(BASE)
    host.wait_report("base")
    snapshot = host.snapshot()
    # The fingerprint must see what a bad run could change, or the checks below prove nothing.
    assert "/var/lib/microvm-credentials/base/app.token.cred 600 root" in snapshot
    assert "microvm@base.service active running" in snapshot
    assert "/etc/microvm-credentials/instances/base.json" in snapshot
    assert FOREIGN + " 644 root" in snapshot and "\n/opt 755 root" in snapshot
    return host


@pytest.mark.parametrize("case_id,spec,variable", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_rejected_before_any_change(baseline, tmp_path, case_id, spec, variable):
    host = baseline
    group_vars = materialise(case_id, copy.deepcopy(spec), tmp_path)
    before_host, before_store = host.snapshot(), host.vault_values()
    proc = host.playbook(group_vars)
    assert proc.returncode != 0, proc.stdout[-3000:]
    assert variable in proc.stdout, "error does not name %s:\n%s" % (variable, proc.stdout[-3000:])
    assert host.snapshot() == before_host, "the host changed"
    assert host.vault_values() == before_store, "the controller store changed"


def test_undecryptable_store_fails_loudly_and_never_regenerates(baseline):
    host = baseline
    path = os.path.join(host.store, "base", "app-token.vault")
    with open(path, "rb") as f:
        original = f.read()
    corrupt = original.replace(original.splitlines()[-1], b"00" * 32)
    with open(path, "wb") as f:
        f.write(corrupt)
    try:
        before = host.snapshot()
        proc = host.playbook(BASE)
        assert proc.returncode != 0
        assert "cannot decrypt secret store file %s" % path in proc.stdout
        with open(path, "rb") as f:
            assert f.read() == corrupt, "the store file was replaced"
        assert host.snapshot() == before
    finally:
        with open(path, "wb") as f:
            f.write(original)


def test_wrong_vault_password_fails_loudly(baseline, tmp_path):
    host = baseline
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-password")
    before, store = host.snapshot(), host.vault_values()
    proc = host.playbook(BASE, env={"ANSIBLE_VAULT_PASSWORD_FILE": str(wrong)})
    assert proc.returncode != 0 and "cannot decrypt secret store file" in proc.stdout
    assert host.snapshot() == before and host.vault_values() == store
