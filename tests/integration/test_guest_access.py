"""What a user configures, shown by one booted guest: its tap interface, an SSH login
with a pinned host key, and a virtiofs share.

One Debian 13 host (it packages virtiofsd) runs the Debian 12 guest (systemd 252) `v`:
- networking: a tap device with the MAC from vars. The guest's addressing comes from a
  credential systemd 252 reads, `tmpfiles.extra` (a static OEM string), which writes a
  systemd-networkd .network file: IPv6 link-local only, so the guest is
  fe80::(EUI-64 of its MAC)%TAP, reachable from the host with no address plan;
- login: the guest gets an SSH host key pair (private half and `inject_public`) and
  `ssh.authorized_keys.root` made of a key pair the controller holds and a key line from
  vars. A playbook pins the host key in a controller known_hosts file from the lookup
  microvm.credentials.public and manages the guest over SSH, through the host
  (ProxyJump), with StrictHostKeyChecking=yes. A known_hosts file with another key
  makes the same login fail;
- virtiofs: the guest mounts a share and reads the file the test placed in it. Its
  virtiofsd runs as microvm-v in a sandbox that systemd-analyze rates at most 2.5, and
  cannot read the share directory of instance `w` (never started).
"""

import base64
import os
import re
import subprocess
import time
import uuid

import pytest
from harness import BOOT_TIMEOUT, TRIXIE_IMAGE, Host, fingerprint, instance, recap, remove_container, report_key, start_container

PLAYBOOK = "tests/integration/playbooks/guest_login.yml"
MAC = "52:54:00:00:01:01"
TAP = "vm-v0"
# EUI-64 link-local address of MAC: the U/L bit of the first byte flipped, ff:fe in the middle.
LINK_LOCAL = "fe80::5054:ff:fe00:101"
NETWORK = "[Match]\nMACAddress=%s\n\n[Network]\nLinkLocalAddressing=ipv6\nIPv6AcceptRA=no\n" % MAC
TMPFILES = "f~ /run/systemd/network/50-microvm.network 0644 root root - " + base64.b64encode(NETWORK.encode()).decode()
SHARE_FILE = "placed by the test %s\n" % uuid.uuid4().hex
# A key line from vars, authorized too; only the controller's admin key is used below.
OTHER_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGVps4PV2/GuWE4eaSxw1mo/PjNyMOJMCZqh+xbDqQVp other@example"
CREDENTIALS = {
    "host-key": {"name": "ssh.ed25519-host-key", "inject_public": "ssh.ed25519-host-key.pub", "generate": {"type": "ssh"}},
    "admin": {"inject": False, "generate": {"type": "ssh", "comment": "admin"}},
    "root-keys": {"name": "ssh.authorized_keys.root", "authorized_keys": ["admin", OTHER_KEY]},
}
GROUP_VARS = {"microvm_instances": {
    "v": instance("v", CREDENTIALS, report_key=True, mem=512,
                  cmdline="console=ttyS0 root=/dev/nvme0n1 rw systemd.wants=systemd-networkd.service",
                  interfaces=[{"tap": TAP, "mac": MAC}], shares=[{"tag": "data", "source": "/srv/share-v"}],
                  oem_strings=["io.systemd.credential:tmpfiles.extra=" + TMPFILES]),
    "w": instance("w", {}, autostart=False, shares=[{"tag": "data", "source": "/srv/share-w"}]),
}}


@pytest.fixture(scope="module")
def host(request, tmp_path_factory):
    """The Debian 13 host, its sshd published for the ProxyJump."""
    name = "mvc-it-guest-access-%s" % uuid.uuid4().hex[:6]
    start_container(name, publish_ssh=True, image=TRIXIE_IMAGE, guest="guest")
    try:
        running = Host(name, str(tmp_path_factory.mktemp(name)))
        running.enable_ssh()
        yield running
    finally:
        remove_container(name)


def ssh_config(host):
    """An ssh_config naming the host `microvm-host` (its sshd, published by podman), for ProxyJump."""
    path = os.path.join(host.tmp, "ssh_config")
    with open(path, "w") as f:
        # The test container makes its own host key at its first boot; the guest's is what is pinned.
        f.write("Host microvm-host\n  HostName 127.0.0.1\n  Port %d\n  User ansible\n  IdentityFile %s\n  IdentitiesOnly yes\n"
                "  StrictHostKeyChecking no\n  UserKnownHostsFile %s\n"
                % (host.ssh_port, os.path.join(host.tmp, "id_ed25519"), os.path.join(host.tmp, "known_hosts")))
    return path


def guest_ssh_args(host, known_hosts):
    """How the controller reaches the guest: through the host, the guest's key pinned in KNOWN_HOSTS."""
    return ["-F", ssh_config(host), "-o", "ProxyJump=microvm-host", "-o", "HostKeyAlias=v", "-o", "StrictHostKeyChecking=yes",
            "-o", "UserKnownHostsFile=" + known_hosts, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes"]


def guest_ssh(host, known_hosts, command):
    argv = ["ssh"] + guest_ssh_args(host, known_hosts) + ["-i", os.path.join(host.tmp, "admin_key"),
                                                          "root@%s%%%s" % (LINK_LOCAL, TAP), command]
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)


def wait_sshd(host, timeout=BOOT_TIMEOUT):
    """The guest's SSH banner, read by the host over the tap device."""
    script = ("python3 -c 'import socket; s = socket.create_connection((\"%s%%%s\", 22), timeout=5); print(s.recv(64).decode())'"
              % (LINK_LOCAL, TAP))
    deadline = time.time() + timeout
    out = ""
    while time.time() < deadline:
        out = host.sh(script + " 2>&1", check=False)
        if out.startswith("SSH-2.0-"):
            return out
        time.sleep(3)
    raise AssertionError("the host cannot reach the guest's sshd at %s%%%s: %s\nserial tail:\n%s"
                         % (LINK_LOCAL, TAP, out, host.serial("v")[-3000:]))


@pytest.fixture(scope="module")
def booted(host):
    """One converge, one boot of `v`: every test below uses this guest."""
    host.prepare_disk("v")
    host.sh("install -d -m 0755 /srv/share-v /srv/share-w && printf %%s '%s' > /srv/share-v/hello.txt && "
            "echo 'w only' > /srv/share-w/secret.txt" % SHARE_FILE)
    host.write_inventory(GROUP_VARS)
    known_hosts = os.path.join(host.tmp, "guest_known_hosts")
    with open(os.path.join(host.inventory, "hosts.yml"), "a") as f:
        # The guest, managed over SSH through its host, as the README shows.
        f.write("guests:\n  hosts:\n    v:\n      ansible_host: '%s%%%s'\n      ansible_user: root\n"
                "      ansible_ssh_private_key_file: %s\n      ansible_ssh_common_args: '%s'\n"
                "      microvm_host: %s\n      microvm_known_hosts: %s\n      microvm_mac: '%s'\n"
                % (LINK_LOCAL, TAP, os.path.join(host.tmp, "admin_key"), " ".join(guest_ssh_args(host, known_hosts)),
                   host.name, known_hosts, MAC))
    host.converge(None)
    values = host.vault_values()
    with open(os.path.join(host.tmp, "admin_key"), "wb") as f:
        os.fchmod(f.fileno(), 0o600)
        f.write(values["v/admin.vault"])
    report = host.wait_report("v")
    wait_sshd(host)
    return host, values, report, known_hosts


def test_guest_gets_its_host_key_and_authorized_keys(booted):
    host, values, report, dummy = booted
    with open(os.path.join(host.store, "v", "admin.pub"), "rb") as f:
        admin_public = f.read().strip()
    assert report["ssh.authorized_keys.root"] == fingerprint(report_key(values, "v"), admin_public + b"\n" + OTHER_KEY.encode() + b"\n")
    assert report["ssh.ed25519-host-key"] == fingerprint(report_key(values, "v"), values["v/host-key.vault"])


def test_tap_is_up_with_the_mac_from_vars_and_reachable_from_the_host(booted):
    host = booted[0]
    link = host.sh("ip -o link show dev %s" % TAP)
    assert re.search(r"<[^>]*\bUP\b[^>]*\bLOWER_UP\b[^>]*>", link), link
    # The banner of the guest's sshd, over the tap, at the link-local address derived from the MAC.
    assert wait_sshd(host, timeout=30).startswith("SSH-2.0-OpenSSH")


def test_playbook_pins_the_host_key_and_manages_the_guest(booted):
    host, dummy, dummy2, known_hosts = booted
    proc = host.converge(None, playbook=PLAYBOOK)
    assert recap(proc.stdout)["failed"] == 0
    with open(os.path.join(host.store, "v", "host-key.pub")) as f:
        assert open(known_hosts).read().split() == ["v"] + f.read().split()[:2]
    # The guest's own view, over the login: its interface with the MAC from vars, up.
    m = re.search(r"GUEST-NET (\S+) (\S+) (\S+) END", proc.stdout)
    assert m and m.group(2) == MAC and m.group(3) == "up", proc.stdout[-3000:]


def test_login_with_the_pinned_key_succeeds_and_a_wrong_pinned_key_fails(booted):
    host, dummy, dummy2, known_hosts = booted
    ok = guest_ssh(host, known_hosts, "id -un; cat /sys/class/net/*/address")
    assert ok.returncode == 0 and ok.stdout.split()[0] == "root" and MAC in ok.stdout.split(), ok.stderr
    wrong = os.path.join(host.tmp, "wrong_known_hosts")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", os.path.join(host.tmp, "other")], check=True)
    with open(os.path.join(host.tmp, "other.pub")) as f:
        with open(wrong, "w") as out:
            out.write("v " + " ".join(f.read().split()[:2]) + "\n")
    refused = guest_ssh(host, wrong, "id -un")
    assert refused.returncode == 255 and "Host key verification failed" in refused.stderr, refused.stderr
    assert "root" not in refused.stdout


def test_guest_mounts_the_share_and_reads_the_file(booted):
    host, dummy, dummy2, known_hosts = booted
    out = guest_ssh(host, known_hosts, "mkdir -p /mnt/data && mount -t virtiofs data /mnt/data && cat /mnt/data/hello.txt")
    assert out.returncode == 0 and out.stdout == SHARE_FILE, out.stderr
    # vhost-user needs guest RAM virtiofsd can map: QEMU's memory is a shared memfd.
    argv = host.sh("tr '\\0' '\\n' < /proc/%d/cmdline" % host.main_pid("v")).splitlines()
    assert "memory-backend-memfd,id=mem,size=512M,share=on" in argv


def test_virtiofsd_runs_as_the_instance_user_sandboxed(booted):
    host = booted[0]
    unit = "microvm-virtiofsd@v:data.service"
    pid = int(host.sh("systemctl show -p MainPID --value %s" % unit).strip())
    assert pid and host.sh("ps -o user:32=,group:32= -p %d" % pid).split() == ["microvm-v", "microvm-v"]
    status = host.sh("cat /proc/%d/status" % pid)
    assert re.search(r"^CapEff:\s+0+$", status, re.M) and re.search(r"^NoNewPrivs:\s+1$", status, re.M)
    assert re.search(r"^Seccomp:\s+2$", status, re.M)
    assert host.sh("stat -c '%U %a' /srv/share-v /srv/share-w /run/microvm-virtiofsd/v").split() == [
        "microvm-v", "700", "microvm-w", "700", "microvm-v", "700"]
    score = re.search(r"Overall exposure level for \S+: ([0-9.]+)", host.sh("systemd-analyze security --no-pager %s" % unit))
    assert score and float(score.group(1)) <= 2.5, score and score.group(0)


def test_a_virtiofsd_cannot_read_another_instances_share(booted):
    host = booted[0]
    # The identity virtiofsd of v runs as, in the same unit sandbox: it reads its own share, not w's.
    read = "setpriv --reuid=microvm-v --regid=microvm-v --init-groups cat %s 2>&1; echo rc=$?"
    own = host.sh(read % "/srv/share-v/hello.txt", check=False)
    assert own == SHARE_FILE + "rc=0\n", own
    other = host.sh(read % "/srv/share-w/secret.txt", check=False)
    assert "Permission denied" in other and not other.endswith("rc=0\n"), other
