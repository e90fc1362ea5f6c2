"""Integration harness: a real systemd host container, real ansible-playbook runs.

Imported by the integration tests (`from harness import ...`; conftest.py holds only
the pytest hooks and fixtures), tests/matrix and benchmarks/run.py.

One podman container (from `make images`) serves a whole test module; each run
writes its own inventory (hosts.yml + group_vars/all.yml) under tmp and calls
playbooks/site.yml exactly as a user would, with a real ansible-vault password.
Guests are real QEMU (TCG) microVMs booting the demo guest image.

A Host reaches its container with one of CONNECTIONS: "podman" (the default), or
over ssh as the image's non-root user `ansible` (the playbook becomes root), with
pipelining on ("ssh") or off ("ssh-nopipe"). sshd is published on 127.0.0.1 only
and trusts a key pair made for the test.
"""

import contextlib
import hashlib
import hmac
import os
import re
import shutil
import subprocess
import time
import uuid

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CACHE = os.environ.get("MICROVM_CACHE", "/var/cache/microvm-credentials")
IMAGE = os.environ.get("MICROVM_HOST_IMAGE", "localhost/microvm-host:bookworm")
TRIXIE_IMAGE = os.environ.get("MICROVM_TRIXIE_IMAGE", "localhost/microvm-host:trixie")
# The version matrix (tools/matrix.sh) runs another ansible-core's ansible-playbook.
ANSIBLE_PLAYBOOK = os.environ.get("MICROVM_ANSIBLE_PLAYBOOK", "ansible-playbook")
BOOT_TIMEOUT = int(os.environ.get("MICROVM_BOOT_TIMEOUT", "240"))
REPORT_RE = re.compile(r"MICROVM-CRED source=(\S+) name=(\S+) size=(\d+) hmac-sha256=([0-9a-f]{64})")
KEY_RE = re.compile(r"MICROVM-CRED source=(\S+) key=(\S+)")
# The guest keys the digests it prints with its credential report.key (tools/guest-overlay):
# an instance whose report a test compares has this credential (instance(..., report_key=True)).
REPORT_KEY_ID, REPORT_KEY_NAME = "report-key", "report.key"
REPORT_KEY = {REPORT_KEY_ID: {"name": REPORT_KEY_NAME, "generate": {"type": "hex", "bytes": 32}}}
DONE = "MICROVM-CRED done source=system"
BOOT_MARKER = "MICROVM-BOOT"  # the launcher's line before each boot's serial output (_launcher/launch.py)
CONNECTIONS = ("podman", "ssh", "ssh-nopipe")
SSH_USER = "ansible"
FOREIGN_WARNINGS_FILE = os.path.join(ROOT, "tools", "foreign-warnings.txt")
# The host's python3-capture (set as ansible_python_interpreter) keeps a copy of each
# module payload piped to it in PAYLOAD_CAPTURE (RAM-backed) before running it.
PAYLOAD_CAPTURE = "/run/payloads"
CAPTURING_PYTHON = r"""
set -e
mkdir -p -m 0700 %(capture)s
cat > /usr/local/bin/python3-capture <<'EOS'
#!/bin/sh
# On a terminal (a module file run over ssh -tt), nothing is piped: tee would wait for it.
[ -t 0 ] && exec /usr/bin/python3 "$@"
f=$(mktemp %(capture)s/payload.XXXXXXXX)
tee "$f" | /usr/bin/python3 "$@"
EOS
chmod 0755 /usr/local/bin/python3-capture
""" % {"capture": PAYLOAD_CAPTURE}


def python_warnings(current=None):
    """PYTHONWARNINGS with the filters of tools/foreign-warnings.txt after CURRENT's own
    (Python warnings of other projects that every ansible run would print)."""
    with open(FOREIGN_WARNINGS_FILE) as f:
        ours = [line.strip() for line in f if line.strip() and not line.startswith("#")]
    entries = [e for e in (current or "").split(",") if e]
    return ",".join(entries + [e for e in ours if e not in entries])


def requirements_missing():
    """Why the host containers cannot run here (a missing tool or image), or None."""
    if not shutil.which("podman"):
        return "podman is not installed (make deps)"
    for image in (IMAGE, TRIXIE_IMAGE):
        if subprocess.run(["podman", "image", "exists", image], check=False).returncode != 0:
            return "host image %s is missing (make images)" % image
    for guest in ("guest", "guest-trixie"):
        if not os.path.exists(os.path.join(CACHE, guest, "vmlinuz")):
            return "guest image %s is missing in %s (make images)" % (guest, CACHE)
    return None


def collection_path():
    """An ANSIBLE_COLLECTIONS_PATH in which microvm.credentials is this checkout."""
    base = os.path.join(ROOT, ".build", "collections")
    link = os.path.join(base, "ansible_collections", "microvm", "credentials")
    os.makedirs(os.path.dirname(link), exist_ok=True)
    if os.path.realpath(link) != ROOT:
        # Test workers (pytest-xdist) may get here at once: make the link beside it, rename it over.
        tmp = "%s.%d" % (link, os.getpid())
        os.symlink(ROOT, tmp)
        os.replace(tmp, link)
    return base


def instance(name, credentials, report_key=False, **extra):
    """A QEMU TCG instance booting the demo guest image (disk made by Host.prepare_disk); with
    REPORT_KEY, the credential its guest keys the digests of its report with."""
    if report_key:
        credentials = dict(credentials, **REPORT_KEY)
    spec = {
        "hypervisor": "qemu",
        "accel": "tcg",
        "vcpu": 1,
        "mem": 384,
        "stop_timeout": 15,
        "kernel": "/srv/microvm/images/vmlinuz",
        "cmdline": "console=ttyS0 root=/dev/nvme0n1 rw systemd.wants=credential-consumer@app.token.service",
        "disks": [{"path": "/var/lib/microvm/%s/root.qcow2" % name, "format": "qcow2", "interface": "nvme"}],
        "credentials": credentials,
    }
    spec.update(extra)
    return spec


class Host:
    """The systemd host container and the controller-side inventory that targets it."""

    def __init__(self, name, tmp, connection="podman"):
        assert connection in CONNECTIONS, connection
        self.name = name
        self.tmp = tmp
        self.connection = connection
        self.ssh_port = None
        self.inventory = os.path.join(tmp, "inventory")
        self.store = os.path.join(self.inventory, ".microvm-credentials", name)
        self.vault_password_file = os.path.join(tmp, "vault-password")
        with open(self.vault_password_file, "w") as f:
            f.write(uuid.uuid4().hex)
        os.chmod(self.vault_password_file, 0o600)

    # -- host side ---------------------------------------------------------
    def sh(self, script, check=True, binary=False, stdin=None):
        """Run a shell script on the host (as root, through podman exec); STDIN (bytes) is piped to it."""
        interactive = ["-i"] if stdin is not None else []
        proc = subprocess.run(["podman", "exec"] + interactive + [self.name, "sh", "-c", script], input=stdin,
                              capture_output=True, check=False)
        if check and proc.returncode != 0:
            raise AssertionError("host command failed (%d): %s\n%s" % (proc.returncode, script, proc.stderr.decode(errors="replace")))
        return proc.stdout if binary else proc.stdout.decode(errors="replace")

    def prepare_disk(self, name):
        self.sh("test -e /var/lib/microvm/{0}/root.qcow2 || {{ mkdir -p -m 0700 /var/lib/microvm/{0} && "
                "qemu-img create -q -f qcow2 -F raw -b /srv/microvm/images/root.img /var/lib/microvm/{0}/root.qcow2; }}".format(name))

    def main_pid(self, name):
        return int(self.sh("systemctl show -p MainPID --value microvm@%s.service" % name).strip() or 0)

    def serial(self, name):
        return self.sh("cat /var/log/microvm/%s/serial.log 2>/dev/null || true" % name)

    def wait_report(self, name, reports=1, timeout=BOOT_TIMEOUT):
        """The credentials the guest reported in its REPORTS-th complete report: {name: (size, HMAC-SHA256
        under its report key)}. A report without digests (no key) fails: nothing could be compared."""
        deadline = time.time() + timeout
        text = ""
        while time.time() < deadline:
            text = self.serial(name)
            if text.count(DONE) >= reports:
                report = text.split(DONE)[reports - 1]
                return parse_report(report, "system")
            time.sleep(2)
        # More boots than reports means a restart cut a boot short before it reported.
        raise AssertionError("guest %s gave no report #%d in %ss (%d boots, %d reports); serial tail:\n%s"
                             % (name, reports, timeout, text.count(BOOT_MARKER), text.count(DONE), text[-2000:]))

    def check_report(self, group_vars, name, reports=1):
        """Assert that guest NAME's REPORTS-th report lists exactly its injected credentials in
        GROUP_VARS, with the controller's values; return the store (vault_values())."""
        values = self.vault_values()
        expected = expected_report(values, name, group_vars["microvm_instances"][name])
        seen = self.wait_report(name, reports)
        assert seen == expected, "guest %s reported %s, the controller holds %s" % (name, seen, expected)
        return values

    def snapshot(self):
        """A fingerprint of everything this collection may change on the host."""
        return self.sh(
            "{ find /etc/microvm-credentials /etc/systemd/system /var/lib/microvm-credentials /usr/lib/microvm-credentials "
            "/usr/libexec/microvm-credentials /opt -xdev 2>/dev/null | sort | while read -r f; do "
            "stat -c '%n %a %U %s' \"$f\"; [ -f \"$f\" ] && sha256sum \"$f\"; done; "
            "systemctl list-units --all --plain --no-legend 'microvm*' | awk '{print $1, $3, $4}'; } 2>&1")

    def enable_ssh(self):
        """Authorize a key pair made now for SSH_USER and read back the port podman published sshd on."""
        key = os.path.join(self.tmp, "id_ed25519")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", self.name, "-f", key], check=True)
        with open(key + ".pub", "rb") as f:
            self.sh("install -d -m 0700 -o {0} -g {0} /home/{0}/.ssh && "
                    "install -m 0600 -o {0} -g {0} /dev/stdin /home/{0}/.ssh/authorized_keys && "
                    "systemctl is-active --quiet ssh.service".format(SSH_USER), stdin=f.read())
        published = subprocess.run(["podman", "port", self.name, "22/tcp"], capture_output=True, text=True, check=True).stdout
        self.ssh_port = int(published.split()[0].rsplit(":", 1)[1])

    # -- controller side ---------------------------------------------------
    @property
    def address(self):
        """What ansible -vvvv prints between <> for this host."""
        return self.name if self.connection == "podman" else "127.0.0.1"

    def connection_vars(self):
        if self.connection == "podman":
            return {"ansible_connection": "containers.podman.podman", "ansible_python_interpreter": "/usr/bin/python3"}
        return {
            "ansible_connection": "ansible.builtin.ssh",
            "ansible_host": "127.0.0.1",
            "ansible_port": self.ssh_port,
            "ansible_user": SSH_USER,
            "ansible_pipelining": self.connection == "ssh",
            "ansible_ssh_private_key_file": os.path.join(self.tmp, "id_ed25519"),
            "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o IdentitiesOnly=yes -o UserKnownHostsFile=%s"
                                       % os.path.join(self.tmp, "known_hosts"),
            "ansible_python_interpreter": "/usr/bin/python3",
        }

    def write_inventory(self, group_vars):
        os.makedirs(os.path.join(self.inventory, "group_vars"), exist_ok=True)
        with open(os.path.join(self.inventory, "hosts.yml"), "w") as f:
            yaml.safe_dump({"microvm_hosts": {"hosts": {self.name: self.connection_vars()}}}, f)
        with open(os.path.join(self.inventory, "group_vars", "all.yml"), "w") as f:
            yaml.safe_dump(group_vars, f)

    def env(self, **extra):
        env = dict(os.environ)
        env.update({
            "ANSIBLE_COLLECTIONS_PATH": collection_path(),
            "ANSIBLE_VAULT_PASSWORD_FILE": self.vault_password_file,
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_RETRY_FILES_ENABLED": "0",
            "PYTHONWARNINGS": python_warnings(os.environ.get("PYTHONWARNINGS")),
        })
        env.update(extra)
        return env

    def playbook_argv(self, args=(), playbook="playbooks/site.yml"):
        return [ANSIBLE_PLAYBOOK, "-i", self.inventory, os.path.join(ROOT, playbook)] + list(args)

    def playbook(self, group_vars=None, *args, playbook="playbooks/site.yml", env=None, timeout=900):
        """Run ansible-playbook; return CompletedProcess (text, stdout+stderr in .stdout)."""
        if group_vars is not None:
            self.write_inventory(group_vars)
        # No terminal, even under an interactive pytest: a prompt fails at once instead of waiting.
        return subprocess.run(self.playbook_argv(args, playbook), cwd=ROOT, env=self.env(**(env or {})), stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout, check=False)

    def playbook_popen(self, group_vars=None, *args, playbook="playbooks/site.yml", env=None, stdout=None):
        """Start the same ansible-playbook run in the background, in its own process group
        (os.killpg(proc.pid, ...) stops it and the connection processes it started)."""
        if group_vars is not None:
            self.write_inventory(group_vars)
        return subprocess.Popen(self.playbook_argv(args, playbook), cwd=ROOT, env=self.env(**(env or {})),
                                stdout=stdout if stdout is not None else subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                start_new_session=True)

    def converge(self, group_vars=None, *args, **kw):
        proc = self.playbook(group_vars, *args, **kw)
        assert proc.returncode == 0, proc.stdout[-6000:]
        return proc

    def vault_values(self):
        """{INSTANCE/ID: bytes} of the controller's store, decrypted with the real vault password."""
        from ansible.parsing.vault import VaultLib, VaultSecret
        with open(self.vault_password_file, "rb") as f:
            lib = VaultLib([("default", VaultSecret(f.read().strip()))])
        values = {}
        for instance in sorted(os.listdir(self.store)) if os.path.isdir(self.store) else []:
            if instance.startswith(".") or not os.path.isdir(os.path.join(self.store, instance)):
                continue  # the store's token key
            for fname in sorted(f for f in os.listdir(os.path.join(self.store, instance)) if f.endswith(".vault")):
                with open(os.path.join(self.store, instance, fname), "rb") as f:
                    values["%s/%s" % (instance, fname)] = lib.decrypt(f.read())
        return values


def sops_values(host, key_file):
    """{INSTANCE/ID.vault: value} (the keys of Host.vault_values() and expected_report) of HOST's
    sops store, read by the plain sops CLI with the age key in KEY_FILE."""
    sops = os.path.join(ROOT, ".venv", "bin", "sops")
    values = {}
    for inst in sorted(i for i in os.listdir(host.store) if os.path.isdir(os.path.join(host.store, i))):
        for fname in sorted(f for f in os.listdir(os.path.join(host.store, inst)) if f.endswith(".sops")):
            out = subprocess.run([sops if os.path.exists(sops) else "sops", "-d", os.path.join(host.store, inst, fname)],
                                 env=dict(os.environ, SOPS_AGE_KEY_FILE=key_file), check=True, capture_output=True).stdout
            values["%s/%s.vault" % (inst, fname[:-len(".sops")])] = out
    return values


def parse_report(text, source):
    """{name: (size, hmac)} of the report lines of SOURCE in TEXT, which must name REPORT_KEY_NAME as its key."""
    keys = [key for src, key in KEY_RE.findall(text) if src == source]
    assert keys and keys[-1] == REPORT_KEY_NAME, ("the %s report is keyed by %s, not %s (give the instance "
                                                  "report_key=True)" % (source, keys[-1] if keys else "nothing", REPORT_KEY_NAME))
    return dict((n, (int(s), h)) for src, n, s, h in REPORT_RE.findall(text) if src == source)


def report_key(values, name):
    """The value of instance NAME's report key in VALUES (Host.vault_values())."""
    return values["%s/%s.vault" % (name, REPORT_KEY_ID)]


def fingerprint(key, value):
    """(size, HMAC-SHA256 under KEY) of VALUE: what the guest reports of it."""
    return (len(value), hmac.new(key, value, hashlib.sha256).hexdigest())


def expected_report(values, name, spec):
    """{guest name: fingerprint} that instance NAME (SPEC, as in group_vars) should report,
    from VALUES (Host.vault_values()): its credentials that are injected, but the report key."""
    key = report_key(values, name)
    return dict((cred.get("name", cid), fingerprint(key, values["%s/%s.vault" % (name, cid)]))
                for cid, cred in spec["credentials"].items() if cred.get("inject", True) and cid != REPORT_KEY_ID)


def recap(output):
    """{'ok': n, 'changed': n, 'failed': n, ...} from the PLAY RECAP of the last play."""
    m = re.findall(r"ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", output)
    assert m, output[-3000:]
    ok, changed, unreachable, failed = map(int, m[-1])
    return {"ok": ok, "changed": changed, "unreachable": unreachable, "failed": failed}


def start_container(name, publish_ssh=False, image=IMAGE, guest="guest"):
    """Start the host container from IMAGE with the guest image set GUEST (a directory of
    the cache) at /srv/microvm/images; PUBLISH_SSH publishes its sshd on a free port of 127.0.0.1."""
    subprocess.run(["podman", "rm", "-f", name], capture_output=True, check=False)
    publish = ["-p", "127.0.0.1::22"] if publish_ssh else []
    subprocess.run(["podman", "run", "-d", "--name", name, "--hostname", name, "--privileged", "--systemd=always",
                    "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=4096:4096"] + publish +
                   ["-v", "%s/%s:/srv/microvm/images:ro" % (CACHE, guest), image, "/sbin/init"], check=True, capture_output=True)
    wait_systemd(name)


def wait_systemd(name, timeout=120):
    deadline = time.time() + timeout
    state = ""
    while time.time() < deadline:
        state = subprocess.run(["podman", "exec", name, "systemctl", "is-system-running"], capture_output=True,
                               text=True, check=False).stdout.strip()
        if state in ("running", "degraded"):
            return
        time.sleep(1)
    raise AssertionError("systemd in %s did not come up: %s" % (name, state))


@contextlib.contextmanager
def running_host(request, tmp_path_factory, connection="podman", image=IMAGE, guest="guest"):
    """A Host in a fresh container named after the test module, removed afterwards."""
    name = "mvc-it-%s-%s" % (request.module.__name__.rsplit(".", 1)[-1].replace("_", "-"), uuid.uuid4().hex[:6])
    start_container(name, publish_ssh=connection != "podman", image=image, guest=guest)
    try:
        host = Host(name, str(tmp_path_factory.mktemp(name)), connection)
        if connection != "podman":
            host.enable_ssh()
        yield host
    finally:
        remove_container(name)


def remove_container(name, attempts=3):
    """podman rm -f NAME, retried: on a loaded machine a removal can fail and leave it exited."""
    error = ""
    for dummy in range(attempts):
        error = subprocess.run(["podman", "rm", "-f", "-t", "2", name], capture_output=True, text=True, check=False).stderr
        if subprocess.run(["podman", "container", "exists", name], check=False).returncode == 1:
            return
        time.sleep(2)
    raise AssertionError("container %s is still there after %d removals (podman rm -f %s): %s"
                         % (name, attempts, name, error.strip()))
