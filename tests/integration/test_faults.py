"""Faults: a converge killed half-way, a host reboot, a crashed hypervisor, corrupt stores.

Every case uses the real playbook against a real systemd host container and checks
what a user would see afterwards: no partial files, secrets never regenerated
behind the user's back, and guests that come back with the credentials they had.
"""

import hashlib
import hmac
import json
import os
import re
import shlex
import signal
import subprocess
import time

import pytest
import harness
from harness import DONE, instance, recap, wait_systemd

CRED_DIR = "/var/lib/microvm-credentials"
HOST_DIRS = (CRED_DIR, "/etc/microvm-credentials", "/etc/systemd/system", "/usr/lib/microvm-credentials",
             "/usr/libexec/microvm-credentials")


def many(count, hashed=False):
    """COUNT generated secrets (plus a password and its hash), to give a kill something to interrupt."""
    creds = dict(("s%02d" % i, {"name": "app.s%02d" % i, "generate": {"type": "hex"}}) for i in range(count))
    if hashed:
        creds["pw"] = {"inject": False, "generate": {"type": "password"}}
        creds["hash"] = {"name": "passwd.hashed-password.root", "generate": {"type": "passlib", "password_of": "pw"}}
    return creds


# Instances of the kill tests are never started (autostart false): the point is the
# state a dead controller leaves, and the two guest slots stay free.
K1 = {"microvm_instances": {
    "k1": instance("k1", many(9, hashed=True), autostart=False),
    # Many secrets: saving them takes long enough (~10 ms each) for the kill to land part-way.
    "k2": instance("k2", many(40), autostart=False),
}}
K2 = {"microvm_instances": dict(K1["microvm_instances"], k3=instance("k3", many(10), autostart=False))}

STABLE_CREDS = {
    "db": {"name": "db.password", "generate": {"type": "password"}},
    "app-token": {"name": "app.token", "generate": {"type": "hex"}},
}
STABLE = {"microvm_instances": {"x": instance("x", STABLE_CREDS, report_key=True), "y": instance("y", STABLE_CREDS, report_key=True)}}
# The host's decrypted credentials are compared with the store by HMAC under this key (the
# script reads it on stdin): no plain digest of a value leaves the host.
CHECK_KEY = os.urandom(32)


def guest_names(group_vars):
    """{(instance, guest name): credential id} of the injected credentials."""
    return dict(((inst, c.get("name", cid)), cid) for inst, spec in group_vars["microvm_instances"].items()
                for cid, c in spec["credentials"].items() if c.get("inject", True))


def rotate(*patterns):
    return ("-e", json.dumps({"microvm_rotate": list(patterns)}))


# -- observations ------------------------------------------------------------

def store_listing(host):
    """Every path (relative) under the controller store, directories included."""
    paths = []
    for root, dirs, files in os.walk(host.store):
        rel = os.path.relpath(root, host.store)
        paths += [os.path.normpath(os.path.join(rel, n)) for n in dirs + files]
    return sorted(paths)


def store_files(host):
    files = {}
    for path in store_listing(host):
        full = os.path.join(host.store, path)
        if os.path.isfile(full):
            with open(full, "rb") as f:
                files[path] = f.read()
    return files


DECRYPT_ALL = r"""
import glob, hashlib, hmac, os, subprocess, sys
key = sys.stdin.buffer.read()
for path in sorted(glob.glob(os.path.join(sys.argv[1], "*", "*.cred"))):
    name = os.path.basename(path)[:-len(".cred")]
    proc = subprocess.run(["systemd-creds", "decrypt", "--name=" + name, path, "-"], capture_output=True)
    digest = hmac.new(key, proc.stdout, hashlib.sha256).hexdigest() if proc.returncode == 0 else "FAILED"
    print(os.path.relpath(path, sys.argv[1])[:-len(".cred")], digest)
"""


def keyed(value):
    return hmac.new(CHECK_KEY, value, hashlib.sha256).hexdigest()


def host_creds(host):
    """{INSTANCE/NAME: keyed(what `systemd-creds decrypt` gives), or 'FAILED'} for every .cred file."""
    out = host.sh("python3 -c %s %s" % (shlex.quote(DECRYPT_ALL), CRED_DIR), stdin=CHECK_KEY)
    return dict(line.split() for line in out.splitlines())


def host_cred_files(host):
    out = host.sh("cd %s && find . -type f -exec sha256sum {} + | sort" % CRED_DIR)
    return dict((path[2:], digest) for digest, path in (line.split() for line in out.splitlines()))


def wait_host_idle(host, timeout=180):
    """Wait until no module of a killed controller is still running on the host.

    Killing ansible-playbook kills the podman exec clients, not what they started
    in the container: a module that was running finishes on its own.
    """
    deadline = time.time() + timeout
    while time.time() < deadline:
        if "AnsiballZ_" not in host.sh("ps -eo args"):
            return
        time.sleep(0.5)
    raise AssertionError("a module of the killed run is still running on the host:\n" + host.sh("ps -eo args"))


def assert_consistent(host, group_vars, killed=False):
    """No partial or temporary file anywhere, and everything that exists is whole and agrees.

    KILLED: right after a SIGKILL the store may hold the killed run's own temporary
    file (.ID.vault.PID.RANDOM.tmp or .ID.meta.PID.RANDOM.tmp: never renamed into place, so never read as a secret);
    the next run sweeps it, which the rerun test checks.
    """
    listing = store_listing(host)
    junk = [p for p in listing if (os.path.basename(p).startswith(".") or p.endswith(".tmp")) and p != ".token-key"]
    if killed:
        junk = [p for p in junk if not re.match(r"^\.[A-Za-z0-9_.-]+\.\d+\.\w+\.tmp$", os.path.basename(p))]
    assert not junk, "temporary files left in the controller store: %s" % junk
    listing = [p for p in listing if not os.path.basename(p).startswith(".")]
    files = [p for p in listing if os.path.isfile(os.path.join(host.store, p))]
    assert all(re.match(r"^[a-z0-9-]+/[A-Za-z0-9_-]+\.(vault|meta)$", p) for p in files), files
    try:
        values = host.vault_values()
    except Exception as exc:  # pylint: disable=broad-except
        raise AssertionError("a controller store file does not decrypt: %r" % (exc,))
    assert all(values.values()), "an empty secret in the store"

    junk = host.sh("find %s -xdev \\( -name '.*' -o -name '*.tmp' \\) ! -name .microvm-credentials.json -print 2>/dev/null || true"
                   % " ".join(HOST_DIRS))
    assert junk.strip() == "", "temporary files left on the host:\n" + junk
    creds = host_creds(host)
    assert "FAILED" not in creds.values(), "host credentials that do not decrypt: %s" % creds
    names = guest_names(group_vars)
    for key, digest in creds.items():
        inst, name = key.split("/", 1)
        if (inst, name) in names:
            vault = values.get("%s/%s.vault" % (inst, names[(inst, name)]))
            assert vault is not None, "%s is on the host but its secret is not in the controller store" % key
            assert digest == keyed(vault), "%s on the host differs from the controller store" % key
    return values, creds


def _children():
    """{parent pid: [child pids]} from /proc."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as f:
                    stat = f.read()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    return children


def kill_tree(pid):
    """SIGKILL the process PID and every process it started, as a controller crash would.

    The playbook's process group is not enough: ansible-core's workers call setsid(),
    so each task runs in a session of its own and survives a kill of the group.
    Everything is stopped first, so nothing forks or gets reparented while we look.
    """
    groups = {os.getpgid(pid)}
    os.killpg(os.getpgid(pid), signal.SIGSTOP)
    for dummy in range(3):  # a process may have forked between the scans
        tree = _children()
        todo, seen = [pid], set()
        while todo:
            p = todo.pop()
            seen.add(p)
            todo += [c for c in tree.get(p, []) if c not in seen]
        for p in seen:
            try:
                os.kill(p, signal.SIGSTOP)
                groups.add(os.getpgid(p))
            except ProcessLookupError:
                pass
    for group in groups:
        try:
            os.killpg(group, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for p in seen:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


def kill_when(host, group_vars, triggered, tmp_path, what, timeout=300):
    """Run the playbook and SIGKILL it with everything it started as soon as TRIGGERED() is true."""
    log = open(str(tmp_path / ("%s.log" % what)), "w+")
    proc = host.playbook_popen(group_vars, stdout=log)
    try:
        deadline = time.time() + timeout
        while not triggered():
            if proc.poll() is not None or time.time() > deadline:
                log.seek(0)
                raise AssertionError("the run ended (rc=%s) before %s:\n%s" % (proc.returncode, what, log.read()[-4000:]))
            time.sleep(0.002)
        kill_tree(proc.pid)
        proc.wait()
    finally:
        if proc.poll() is None:
            kill_tree(proc.pid)
            proc.wait()
        log.close()


# -- a converge killed half-way ----------------------------------------------

def vault_count(host):
    return sum(1 for p in store_listing(host) if p.endswith(".vault"))


def test_converge_killed_while_storing_secrets(host, tmp_path):
    total = sum(len(s["credentials"]) for s in K1["microvm_instances"].values())
    kill_when(host, K1, lambda: vault_count(host) > 0, tmp_path, "the first vault file appeared")
    wait_host_idle(host)
    saved = vault_count(host)
    assert 0 < saved < total, "the kill did not land while secrets were being stored (%d of %d)" % (saved, total)
    dummy, creds = assert_consistent(host, K1, killed=True)
    assert creds == {}, "the host step ran although the controller was killed before it"


def test_converge_killed_while_the_host_step_runs(host, tmp_path):
    before_values = host.vault_values()
    assert before_values, "needs the state the previous kill left"
    # A watcher inside the container returns the moment the credential module writes
    # anything for k3 (a temporary file counts), far sooner than polling over podman exec.
    watcher = subprocess.Popen(["podman", "exec", host.name, "sh", "-c",
                                "until [ -n \"$(ls -A %s/k3 2>/dev/null)\" ]; do sleep 0.01; done" % CRED_DIR])
    try:
        kill_when(host, K2, lambda: watcher.poll() is not None, tmp_path, "the host step wrote for k3")
    finally:
        if watcher.poll() is None:
            watcher.kill()
        watcher.wait()
    wait_host_idle(host)
    values, creds = assert_consistent(host, K2, killed=True)
    for key, value in before_values.items():
        assert values[key] == value, "%s was regenerated by the killed run" % key
    # The run got no further than the host credential step: k3 is not configured yet.
    assert "k3.json" not in host.sh("ls /etc/microvm-credentials/instances 2>/dev/null || true")


def test_rerun_after_kills_converges_without_regenerating(host):
    before_values, before_files = host.vault_values(), store_files(host)
    proc = host.converge(K2)
    values, creds = assert_consistent(host, K2)
    for key, value in before_values.items():
        assert values[key] == value, "%s was regenerated by the rerun" % key
        assert store_files(host)[key] == before_files[key], "%s was rewritten by the rerun" % key
    total = sum(len(s["credentials"]) for s in K2["microvm_instances"].values())
    assert len(values) == total
    assert sorted(creds) == sorted("%s/%s" % k for k in guest_names(K2))
    for name in K2["microvm_instances"]:
        assert host.sh("test -f /etc/microvm-credentials/instances/%s.json && echo yes" % name).strip() == "yes"
    assert recap(proc.stdout)["changed"] > 0


# -- running microVMs --------------------------------------------------------

def expected_report(host, name):
    return harness.expected_report(host.vault_values(), name, STABLE["microvm_instances"][name])


def done_count(host, name):
    return host.serial(name).count(DONE)


def unit(host, name, *props):
    out = host.sh("systemctl show -p %s microvm@%s.service" % (",".join(props), name))
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


@pytest.fixture(scope="module")
def stable(host):
    for name in STABLE["microvm_instances"]:
        host.prepare_disk(name)
    host.converge(STABLE)
    for name in STABLE["microvm_instances"]:
        assert host.wait_report(name) == expected_report(host, name)
    return host


def test_hypervisor_killed_is_restarted_with_the_same_credentials(stable):
    host = stable
    before = unit(host, "x", "MainPID", "NRestarts")
    pid, reports = int(before["MainPID"]), done_count(host, "x")
    assert pid > 0
    host.sh("kill -9 %d" % pid)
    deadline = time.time() + 60
    now = before
    while time.time() < deadline:
        now = unit(host, "x", "MainPID", "NRestarts", "ActiveState")
        if now["ActiveState"] == "active" and int(now["MainPID"]) not in (0, pid):
            break
        time.sleep(0.5)
    else:
        raise AssertionError("microvm@x was not restarted after its hypervisor was killed: %s" % now)
    assert int(now["NRestarts"]) == int(before["NRestarts"]) + 1
    assert host.wait_report("x", reports=reports + 1) == expected_report(host, "x")


def test_host_restart_brings_the_instances_back(stable):
    host = stable
    reports = dict((name, done_count(host, name)) for name in STABLE["microvm_instances"])
    pids = dict((name, host.main_pid(name)) for name in STABLE["microvm_instances"])
    subprocess.run(["podman", "restart", host.name], check=True, capture_output=True)
    wait_systemd(host.name)
    for name in STABLE["microvm_instances"]:
        # No playbook ran: the instances are enabled and start at boot by themselves.
        assert host.wait_report(name, reports=reports[name] + 1) == expected_report(host, name)
        assert unit(host, name, "ActiveState", "UnitFileState") == {"ActiveState": "active", "UnitFileState": "enabled"}
        assert host.main_pid(name) not in (0, pids[name])


def test_corrupt_host_credential_is_repaired_from_the_store(stable):
    host = stable
    path = "%s/x/db.password.cred" % CRED_DIR
    store = store_files(host)
    host.sh("head -c 512 /dev/urandom > %s" % path)
    assert host_creds(host)["x/db.password"] == "FAILED"
    files, pids = host_cred_files(host), dict((name, host.main_pid(name)) for name in STABLE["microvm_instances"])

    proc = host.converge(STABLE)
    assert recap(proc.stdout)["changed"] > 0
    assert store_files(host) == store, "the controller store changed"
    creds = host_creds(host)
    assert creds["x/db.password"] == keyed(host.vault_values()["x/db.vault"])
    after = host_cred_files(host)
    # The file, and the manifest that records its new digest.
    assert sorted(k for k in files if files[k] != after[k]) == [".microvm-credentials.json", "x/db.password.cred"]
    # x was restarted, and it could only start again if systemd decrypted the repaired file.
    assert unit(host, "x", "ActiveState")["ActiveState"] == "active"
    assert host.main_pid("x") not in (0, pids["x"]) and host.main_pid("y") == pids["y"]


def test_corrupt_store_fails_then_converges_once_repaired(stable):
    host = stable
    path = os.path.join(host.store, "x", "db.vault")
    store, creds = store_files(host), host_creds(host)
    pids = dict((name, host.main_pid(name)) for name in STABLE["microvm_instances"])
    original = store["x/db.vault"]
    truncated = original[:len(original) // 2]  # e.g. an interrupted copy or a bad merge

    with open(path, "wb") as f:
        f.write(truncated)
    proc = host.playbook(STABLE)
    assert proc.returncode != 0
    assert "secret store file %s" % path in proc.stdout, proc.stdout[-3000:]
    with open(path, "rb") as f:
        assert f.read() == truncated, "the corrupt store file was replaced"
    assert dict((k, v) for k, v in store_files(host).items() if k != "x/db.vault") == \
        dict((k, v) for k, v in store.items() if k != "x/db.vault")
    assert host_creds(host) == creds, "the host credentials changed"

    # Restored (from git, a backup...): the next converge finds everything as it was.
    with open(path, "wb") as f:
        f.write(original)
    proc = host.converge(STABLE)
    assert recap(proc.stdout)["changed"] == 0, proc.stdout[-4000:]
    assert store_files(host) == store and host_creds(host) == creds
    assert dict((name, host.main_pid(name)) for name in STABLE["microvm_instances"]) == pids

    # Or replaced on purpose: an explicit rotation is the other way out, and only x/db changes.
    with open(path, "wb") as f:
        f.write(truncated)
    host.converge(STABLE, *rotate("x/db"))
    after = store_files(host)
    assert sorted(k for k in store if after[k] != store[k]) == ["x/db.meta", "x/db.vault"]
    new = host.vault_values()["x/db.vault"]
    assert new != host.vault_values()["y/db.vault"] and len(new) == len(host.vault_values()["y/db.vault"])
    creds_after = host_creds(host)
    assert sorted(k for k in creds if creds_after[k] != creds[k]) == ["x/db.password"]
    assert creds_after["x/db.password"] == keyed(new)
    assert host.main_pid("y") == pids["y"] and host.main_pid("x") not in (0, pids["x"])
    assert unit(host, "x", "ActiveState")["ActiveState"] == "active"
