"""Debian 13: a trixie host (systemd 257, QEMU 10) encrypts with its own systemd-creds,
and a trixie guest's service reads its credential with ImportCredential=."""

import time

import pytest
from harness import BOOT_TIMEOUT, TRIXIE_IMAGE, fingerprint, instance, parse_report, recap, report_key, running_host

IMPORT = "import:app.token"
GROUP_VARS = {"microvm_instances": {"t13": instance("t13", {
    "token": {"name": "app.token", "generate": {"type": "base64"}},
    "key": {"name": "wg.key", "binary": True, "generate": {"type": "bytes"}},
}, report_key=True, cmdline="console=ttyS0 root=/dev/nvme0n1 rw systemd.wants=credential-import@app.token.service")}}


@pytest.fixture(scope="module")
def host(request, tmp_path_factory):
    with running_host(request, tmp_path_factory, image=TRIXIE_IMAGE, guest="guest-trixie") as running:
        yield running


def imported_report(host, name, timeout=BOOT_TIMEOUT):
    """{credential: (size, HMAC-SHA256 under the report key)} that the guest's credential-import@ service reported."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        serial = host.serial(name)
        if "MICROVM-CRED done source=%s" % IMPORT in serial:
            return serial, parse_report(serial, IMPORT)
        time.sleep(2)
    raise AssertionError("no ImportCredential= report from %s; serial tail:\n%s" % (name, host.serial(name)[-2000:]))


def test_trixie_host_and_guest(host):
    assert host.sh("systemd-creds --version").startswith("systemd 257")
    host.prepare_disk("t13")
    host.converge(GROUP_VARS)
    vault = host.check_report(GROUP_VARS, "t13")
    serial, imported = imported_report(host, "t13")
    assert "systemd 257" in serial
    assert imported == {"app.token": fingerprint(report_key(vault, "t13"), vault["t13/token.vault"])}
    assert recap(host.converge(GROUP_VARS).stdout)["changed"] == 0
