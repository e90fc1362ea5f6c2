"""One unprivileged, sandboxed identity per microVM.

Two QEMU TCG instances `a` and `b` run at once, each as its own user microvm-NAME.
Each user tries to read what belongs to the other (credentials, disk, serial log,
state, API socket, launcher configuration, encrypted credentials): every attempt
fails with EACCES, and the same attempt on its own files succeeds (the positive
control). Inside each unit's sandbox, the host's credential store and its key are
inaccessible. The guests still receive every credential. `systemd-analyze security`
rates the units: at most 3.0 for TCG and 2.5 for KVM (instance `k`, never started:
the analysis reads its unit and drop-in only), and at most 2.5 for the virtiofsd of
k's share.
"""

import re

import pytest
from harness import fingerprint, instance, report_key

CREDS = {
    "db": {"name": "db.password", "generate": {"type": "password"}},
    "app-token": {"name": "app.token", "generate": {"type": "hex"}},
    "wg": {"name": "wireguard.key", "binary": True, "generate": {"type": "bytes"}},
}
GROUP_VARS = {"microvm_instances": {
    "a": instance("a", CREDS, report_key=True),
    # b has a tap device: created by the unit, owned by microvm-b.
    "b": instance("b", CREDS, report_key=True, interfaces=[{"tap": "vm-b0", "mac": "52:54:00:00:00:0b"}]),
    # k's share: its virtiofsd unit and drop-in are analysed, never started (no virtiofsd in Debian 12).
    "k": instance("k", CREDS, accel="kvm", autostart=False, shares=[{"tag": "data", "source": "/srv/k-data"}]),
}}
NAMES = dict((cid, c.get("name", cid)) for cid, c in CREDS.items())
# systemd-analyze security "Overall exposure level" targets (0 safest, 10 unsafe).
TARGETS = {"a": 3.0, "b": 3.0, "k": 2.5}
VIRTIOFSD_TARGET = 2.5


def as_user(host, user, script):
    """Run SCRIPT as USER with its groups (kvm included); (rc, stdout+stderr)."""
    out = host.sh("setpriv --reuid=%s --regid=%s --init-groups sh -c '%s' 2>&1; echo rc=$?" % (user, user, script), check=False)
    body, _sep, rc = out.rpartition("rc=")
    return int(rc.strip()), body


def connect(path):
    return "python3 -c \"import socket; s = socket.socket(socket.AF_UNIX); s.connect(\\\"%s\\\"); print(\\\"connected\\\")\"" % path


def targets(name):
    """What instance NAME owns, as (description, shell command reading it)."""
    return [
        ("credential", "cat /run/credentials/microvm@%s.service/db.password >/dev/null" % name),
        ("credentials directory", "ls /run/credentials/microvm@%s.service >/dev/null" % name),
        ("disk", "head -c 16 /var/lib/microvm/%s/root.qcow2 >/dev/null" % name),
        ("state directory", "ls /var/lib/microvm/%s >/dev/null" % name),
        ("serial log", "cat /var/log/microvm/%s/serial.log >/dev/null" % name),
        ("runtime directory", "ls /run/microvm/%s >/dev/null" % name),
        ("QMP socket", connect("/run/microvm/%s/api.sock" % name)),
        ("launcher configuration", "cat /etc/microvm-credentials/instances/%s.json >/dev/null" % name),
    ]


def scores(host, units):
    """{unit: overall exposure} from systemd-analyze security."""
    out = host.sh("for u in %s; do systemd-analyze security --no-pager $u | tail -n 1; done" % " ".join(units))
    return dict((m.group(1), float(m.group(2))) for m in re.finditer(r"Overall exposure level for (\S+): ([0-9.]+)", out))


@pytest.fixture(scope="module")
def converged(host):
    for name in ("a", "b"):
        host.prepare_disk(name)
    host.converge(GROUP_VARS)
    values = host.vault_values()
    for name in ("a", "b"):
        expected = dict((NAMES[cid], fingerprint(report_key(values, name), values["%s/%s.vault" % (name, cid)])) for cid in CREDS)
        assert host.wait_report(name) == expected
    return host


def test_each_hypervisor_runs_as_its_own_user_in_its_sandbox(converged):
    host = converged
    for name in ("a", "b"):
        pid = host.main_pid(name)
        assert host.sh("ps -o user:32=,group:32= -p %d" % pid).split() == ["microvm-" + name] * 2
        status = host.sh("cat /proc/%d/status" % pid)
        assert re.search(r"^CapEff:\s+0+$", status, re.M) and re.search(r"^CapBnd:\s+0+$", status, re.M)
        assert re.search(r"^NoNewPrivs:\s+1$", status, re.M) and re.search(r"^Seccomp:\s+2$", status, re.M)
        argv = host.sh("tr '\\0' '\\n' < /proc/%d/cmdline" % pid).splitlines()
        assert argv[argv.index("-sandbox") + 1] == "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"
        kvm = host.sh("getent group kvm").strip()
        assert kvm.split(":")[3].split(",").count("microvm-" + name) == 1
        assert host.sh("stat -c '%U:%G %a' /var/lib/microvm/{0}/root.qcow2 /etc/microvm-credentials/instances/{0}.json "
                       "/run/microvm/{0} /var/log/microvm/{0}".format(name)).split() == [
            "microvm-%s:microvm-%s" % (name, name), "600", "root:microvm-" + name, "640",
            "microvm-%s:microvm-%s" % (name, name), "700", "microvm-%s:microvm-%s" % (name, name), "700"]
        # Type=exec: ExecStartPost= waits for ExecStart='s exec, so the two never set up the
        # credentials at once; systemd warns of that race for Type=simple.
        journal = host.sh("journalctl --no-pager -o cat -u microvm@%s.service" % name)
        assert "race conditions" not in journal and "Failed to set up credentials" not in journal, journal
    # The tap device exists, up, owned by b's user: QEMU attaches without CAP_NET_ADMIN.
    uid = host.sh("id -u microvm-b").strip()
    assert host.sh("cat /sys/class/net/vm-b0/owner").strip() == uid


@pytest.mark.parametrize("me, other", [("a", "b"), ("b", "a")])
def test_an_instance_cannot_reach_another_instances_files(converged, me, other):
    host = converged
    for what, script in targets(other):
        rc, out = as_user(host, "microvm-" + me, script)
        assert rc != 0 and "Permission denied" in out, "microvm-%s reached %s's %s: %s" % (me, other, what, out)
    for what, script in targets(me):  # positive control: the same reads work for the owner
        rc, out = as_user(host, "microvm-" + me, script)
        assert rc == 0, "microvm-%s cannot read its own %s: %s" % (me, what, out)
    rc, out = as_user(host, "microvm-" + me, "cat /var/lib/microvm-credentials/%s/db.password.cred >/dev/null" % me)
    assert rc != 0 and "Permission denied" in out, "the encrypted store is root's alone"


def test_the_sandbox_hides_the_credential_store_and_the_host_key(converged):
    """Not even root in the unit's mount namespace sees the sealed credentials or the key that
    unseals them (InaccessiblePaths=); the guests got theirs all the same (the fixture)."""
    host = converged
    check = "ls -A /var/lib/microvm-credentials; stat -c 'key %a %s' /var/lib/systemd/credential.secret"
    outside = host.sh(check).split()
    assert "a" in outside and "b" in outside and outside[-3:-1] == ["key", "400"] and int(outside[-1]) > 0, outside
    for name in ("a", "b"):
        inside = host.sh("nsenter -t %d -m sh -c \"%s\"" % (host.main_pid(name), check)).split()
        assert inside == ["key", "0", "0"], inside


def test_security_scores(converged):
    host = converged
    units = ["microvm@%s.service" % n for n in sorted(TARGETS)] + ["microvm-virtiofsd@k:data.service"]
    found = scores(host, units)
    print("\nsystemd-analyze security (overall exposure, lower is safer):")
    for unit in units:
        print("  %-36s %4.1f" % (unit, found[unit]))
    for name, target in TARGETS.items():
        assert found["microvm@%s.service" % name] <= target, (name, found)
    # virtiofsd runs as the instance's user, sandboxed like its hypervisor.
    assert found["microvm-virtiofsd@k:data.service"] <= VIRTIOFSD_TARGET, found
