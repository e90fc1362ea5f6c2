"""The host probe: one shell command, no secret in it, and its parser."""

import os
import shlex
import stat
import subprocess

import pytest

from ansible_collections.microvm.credentials.plugins.module_utils._launcher.hypervisors import binary_of
from ansible_collections.microvm.credentials.plugins.plugin_utils._actions.host_probe import (
    build_command,
    check,
    check_hypervisors,
    hypervisor_binaries,
    missing_hypervisors,
    parse,
)

INSTANCES = [
    {"name": "a", "hypervisor": "qemu", "binary": None},
    {"name": "b", "hypervisor": "qemu", "binary": None},
    {"name": "c", "hypervisor": "cloud-hypervisor", "binary": None},
    {"name": "d", "hypervisor": "qemu", "binary": "/opt/qemu it's/bin/qemu"},
]


def fake(bindir, name, script):
    path = os.path.join(bindir, name)
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + script)
    os.chmod(path, stat.S_IRWXU)
    return path


def run(command, bindir):
    env = {"PATH": "%s:/usr/bin:/bin" % bindir}
    return subprocess.run(["/bin/sh", "-c", command], env=env, capture_output=True, text=True, check=True).stdout


def test_binaries_default_per_hypervisor_and_are_distinct():
    assert hypervisor_binaries(INSTANCES) == {
        "qemu-system-x86_64": "qemu", "cloud-hypervisor": "cloud-hypervisor", "/opt/qemu it's/bin/qemu": "qemu"}
    assert [binary_of(i) for i in INSTANCES] == ["qemu-system-x86_64", "qemu-system-x86_64", "cloud-hypervisor", "/opt/qemu it's/bin/qemu"]


def test_the_command_quotes_every_path():
    command = build_command(INSTANCES, "/var/lib/my creds")
    assert command.startswith("/bin/sh -c '")
    script = shlex.split(command)[2]
    assert "'/var/lib/my creds'" in script
    assert "'/opt/qemu it'\"'\"'s/bin/qemu'" in script
    assert script.count("--version") == 4  # systemd-creds and three binaries
    # Ansible appends to the command; the probe must still be one valid shell command.
    assert subprocess.run(["/bin/sh", "-n", "-c", command + " && sleep 0"], check=False).returncode == 0


@pytest.fixture
def bindir(tmp_path):
    d = str(tmp_path / "bin")
    os.mkdir(d)
    fake(d, "systemd-creds", 'case "$1" in has-tpm2) printf "partial\\n-firmware\\n"; exit 11;; '
                             '--version) printf "systemd 252 (252.38-1~deb12u1)\\n+PAM\\n";; esac\n')
    fake(d, "qemu-system-x86_64", 'printf "QEMU emulator version 7.2.15 (Debian 1:7.2+dfsg-7+deb12u7)\\nCopyright\\n"\n')
    return d


def test_round_trip_through_a_real_shell(tmp_path, bindir):
    creds = tmp_path / "creds"
    facts = parse(run(build_command(INSTANCES, str(creds)), bindir))
    assert facts == {
        "tpm2": {"rc": 11, "answer": "partial", "usable": False},
        "systemd_creds": "systemd 252 (252.38-1~deb12u1)",
        "hypervisors": {
            "qemu-system-x86_64": {"hypervisor": "qemu", "version": "QEMU emulator version 7.2.15 (Debian 1:7.2+dfsg-7+deb12u7)"},
            "cloud-hypervisor": {"hypervisor": "cloud-hypervisor", "version": None},
            "/opt/qemu it's/bin/qemu": {"hypervisor": "qemu", "version": None},
        },
        "directory": {"path": str(creds), "state": "absent", "example": None},
    }


@pytest.mark.parametrize("setup,state,example", [
    (lambda d: d.mkdir(), "empty", None),
    (lambda d: (d.mkdir(), (d / ".microvm-credentials.json").write_text("{}"), (d / "x").mkdir()), "managed", None),
    (lambda d: ((d / "otherapp").mkdir(parents=True), (d / "otherapp" / "keep.cred").write_text("x")), "foreign", "otherapp/keep.cred"),
    (lambda d: ((d / "sub").mkdir(parents=True)), "foreign", "sub"),
    (lambda d: d.write_text("x"), "not-a-directory", None),
])
def test_directory_states(tmp_path, bindir, setup, state, example):
    creds = tmp_path / "creds"
    setup(creds)
    facts = parse(run(build_command([], str(creds)), bindir))
    assert facts["directory"] == {"path": str(creds), "state": state, "example": example and str(creds / example)}
    assert facts["hypervisors"] == {}


def test_missing_systemd_creds(tmp_path):
    tools = str(tmp_path)
    for tool in ("head", "find"):
        os.symlink("/usr/bin/" + tool, os.path.join(tools, tool))
    env = {"PATH": tools}
    out = subprocess.run(["/bin/sh", "-c", build_command([], "/nonexistent")], env=env, capture_output=True, text=True, check=True).stdout
    facts = parse(out)
    assert facts["systemd_creds"] is None and facts["tpm2"]["usable"] is False
    assert check(facts, "host").startswith("microvm_credential_key: systemd-creds")


def facts_with(rc, answer, state="managed", example=None):
    return {"tpm2": {"rc": rc, "answer": answer, "usable": rc == 0}, "systemd_creds": "systemd 252", "hypervisors": {},
            "directory": {"path": "/d", "state": state, "example": example}}


@pytest.mark.parametrize("key", ["tpm2", "host+tpm2"])
def test_a_tpm2_key_without_a_usable_tpm_is_refused_with_the_hosts_answer(key):
    error = check(facts_with(11, "partial"), key)
    assert error.startswith("microvm_credential_key: %r needs a TPM2" % key) and "'partial' (exit 11)" in error
    assert check(facts_with(0, "yes"), key) is None


@pytest.mark.parametrize("key", ["auto", "host"])
def test_keys_without_tpm2_need_none(key):
    assert check(facts_with(1, "no"), key) is None


def test_unknown_key_and_foreign_directory():
    assert check(facts_with(0, "yes"), "tpm3").startswith("microvm_credential_key: 'tpm3'")
    error = check(facts_with(0, "yes", "foreign", "/d/other/keep.cred"), "auto")
    assert error.startswith("microvm_credential_directory: /d ") and "/d/other/keep.cred" in error
    assert check(dict(facts_with(0, "yes"), directory=None), "auto").startswith("microvm_credential_directory")


def test_parser_ignores_noise():
    facts = parse("motd line\npartial\ttoo-few\ntpm2\t-\t0\tyes\nqemu\t/q\tfound\tQEMU\twith\ttabs\n")
    assert facts["tpm2"] == {"rc": 0, "answer": "yes", "usable": True}
    assert facts["hypervisors"] == {"/q": {"hypervisor": "qemu", "version": "QEMU\twith\ttabs"}}


def probed(versions):
    return {"hypervisors": dict((binary, {"hypervisor": "qemu", "version": version}) for binary, version in versions.items())}


def test_an_affected_qemu_on_the_host_is_refused_naming_the_instance():
    facts = probed({"qemu-system-x86_64": "QEMU emulator version 7.2.15 (Debian 1:7.2+dfsg-7+deb12u13)",
                    "/opt/qemu it's/bin/qemu": "QEMU emulator version 10.0.2"})
    error = check_hypervisors(facts, INSTANCES[:1] + INSTANCES[3:])
    assert error.startswith("microvm_instances.a.hypervisor: qemu-system-x86_64 on the host: ")


def test_a_fixed_or_missing_hypervisor_passes():
    facts = probed({"qemu-system-x86_64": "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)",
                    "/opt/qemu it's/bin/qemu": None})
    assert check_hypervisors(facts, INSTANCES[:2] + INSTANCES[3:]) is None


def test_missing_hypervisors_are_those_with_a_binary_not_found():
    facts = probed({"qemu-system-x86_64": "QEMU emulator version 10.0.2", "/opt/qemu it's/bin/qemu": None})
    facts["hypervisors"]["cloud-hypervisor"] = {"hypervisor": "cloud-hypervisor", "version": None}
    assert missing_hypervisors(facts) == ["cloud-hypervisor", "qemu"]
    assert missing_hypervisors(probed({"qemu-system-x86_64": "QEMU emulator version 10.0.2"})) == []
