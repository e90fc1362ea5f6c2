"""The guest got every credential the controller holds for it, and nothing leaked on the host."""

import base64

import pytest
from conftest import REPORT_KEY, all_store_values, digest, expected_credentials, guest_report, plain_digests, reported, scenario_vars, secret_forms

INSTANCES = sorted(scenario_vars()["microvm_instances"])


@pytest.mark.parametrize("name", INSTANCES)
def test_unit_active_and_enabled(host, name):
    service = host.service("microvm@%s.service" % name)
    assert service.is_running
    assert service.is_enabled


@pytest.mark.parametrize("name", INSTANCES)
def test_system_credentials_match_controller(host, hostname, name):
    expected = expected_credentials(hostname, name)
    key = expected.pop(REPORT_KEY)  # the guest keys its digests with it and does not list it
    seen = reported(guest_report(host, name), "system")
    assert sorted(seen) == sorted(expected), "guest credential names differ from the controller's"
    for cred, value in expected.items():
        assert seen[cred] == (len(value), digest(key, value)), cred


@pytest.mark.parametrize("name", INSTANCES)
def test_guest_service_reads_credential_with_loadcredential(host, hostname, name):
    expected = expected_credentials(hostname, name)
    text = guest_report(host, name, "MICROVM-CRED done source=service:app.token")
    seen = reported(text, "service:app.token")
    assert seen == {"app.token": (len(expected["app.token"]), digest(expected[REPORT_KEY], expected["app.token"]))}


@pytest.mark.parametrize("name", INSTANCES)
def test_host_store_is_encrypted_and_private(host, hostname, name):
    directory = host.file("/var/lib/microvm-credentials/%s" % name)
    assert directory.is_directory and directory.mode == 0o700 and directory.user == "root"
    assert host.file("/var/lib/microvm-credentials").mode == 0o700
    for cred, value in expected_credentials(hostname, name).items():
        if cred == "demo.banner":
            continue  # a static OEM string, not stored
        f = host.file("/var/lib/microvm-credentials/%s/%s.cred" % (name, cred))
        assert f.mode == 0o600 and f.user == "root"
        blob = base64.b64decode(host.check_output("base64 -w0 %s", f.path))
        assert value not in blob and base64.b64encode(value) not in blob


def test_no_secret_in_host_processes_units_or_logs(host, hostname):
    """argv and environment of every host process, unit files, journal, serial logs."""
    dump = base64.b64decode(host.check_output(
        "{ for p in /proc/[0-9]*; do cat $p/cmdline $p/environ 2>/dev/null; done;"
        " cat /etc/systemd/system/microvm@* /etc/systemd/system/microvm@*.service.d/* /etc/microvm-credentials/instances/* 2>/dev/null;"
        " journalctl --no-pager -o cat 2>/dev/null; cat /var/log/microvm/*/serial.log; } | base64 -w0"))
    assert len(dump) > 1000  # the scan read something
    for value in all_store_values(hostname):
        for form in secret_forms(value):
            assert form not in dump, "a secret leaked on the host"
        for form in plain_digests(value):
            assert form not in dump, "a secret's plain digest leaked on the host"


def test_hypervisor_argv_names_no_credential(host):
    for name in INSTANCES:
        pid = host.check_output("systemctl show -p MainPID --value microvm@%s.service" % name)
        argv = host.file("/proc/%s/cmdline" % pid).content.split(b"\0")
        assert any(b"qemu-system" in a or b"cloud-hypervisor" in a for a in argv)
        assert not any(b"io.systemd.credential" in a for a in argv)
