"""What a playbook run warns about: our own warnings reach the user (a credential the declared
guest systemd does not read yet), other projects' Python warnings do not (tools/foreign-warnings.txt)."""

import re

from harness import instance, recap

PLAYBOOK = "tests/integration/playbooks/credentials_only.yml"
# Any Python warning as the warnings module prints it: "FILE:LINE: CATEGORY: message".
PYTHON_WARNING_RE = re.compile(r"^\S+:\d+: \w*Warning: .*$", re.M)


def group_vars(guest_systemd):
    return {"microvm_instances": {"w": instance("w", {
        "machine-id": {"name": "system.machine_id", "generate": {"type": "hex", "bytes": 16}},
        "token": {"name": "app.token", "generate": {"type": "hex"}},
    }, guest_systemd=guest_systemd, oem_strings=["io.systemd.credential:shell.welcome=hello"])}}


def test_our_warnings_show_and_foreign_python_warnings_do_not(host):
    proc = host.converge(group_vars(252), playbook=PLAYBOOK)
    out = proc.stdout
    assert ("[WARNING]: microvm_instances.w.credentials.machine-id.name: credential system.machine_id needs guest "
            "systemd 254 or later") in out, out[-4000:]
    assert "[WARNING]: microvm_instances.w.oem_strings[0]: credential shell.welcome needs guest systemd 257 or later" in out
    assert "app.token" not in "".join(line for line in out.splitlines() if "[WARNING]" in line)
    assert "DSA is deprecated" not in out and "CryptographyDeprecationWarning" not in out, out[:3000]
    assert PYTHON_WARNING_RE.findall(out) == []

    # A guest new enough for both: no warning, and nothing changes.
    proc = host.converge(group_vars(257), playbook=PLAYBOOK)
    assert "needs guest systemd" not in proc.stdout
    assert recap(proc.stdout)["changed"] == 0
