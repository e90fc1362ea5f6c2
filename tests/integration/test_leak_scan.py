"""Canary leak scan: a known secret appears nowhere but the encrypted stores and the guest,
and its plain SHA-256 nowhere at all (a plain digest of a short secret is a dictionary lookup
away from it; only digests keyed with a secret may leave the store).

Once per connection (podman; ssh as a non-root user with become, pipelining on and
off) the real playbook converges at -vvvv with --diff and ANSIBLE_KEEP_REMOTE_FILES=1:
Ansible then leaves every module file it sends on the host (and never pipelines). Over
podman a --check run and a rotation follow, kept the same way. Then a normal run
(pipelined where the connection allows) must leave no module file anywhere. The
canaries and every value the vault store held are then looked for, raw, base64 (at
each of the three byte alignments) and hex, and so are their plain SHA-256 digests
(the same forms, and the 16 hex digits a report could print), in: every Ansible output and log, every
host process's argv and environment, the host journal, unit files, and every file of
every filesystem of the host (leak_scanner.py): disk-backed ones must hold none; of
the RAM-backed ones only systemd's credential directory of the running service may.
The scanner decodes the zip and the arguments embedded in each kept AnsiballZ file.

Positive controls prove each part of the scan can see what it looks for: the guest
reports the canaries' HMAC-SHA256 under its report key; the scanner finds the running service's
credentials in /run/credentials, a value and its plain digest planted on the host's disk in each form, the guest's
qcow2 disk, and, decoded, the module code and arguments in the kept payloads of
microvm_instances (a module that carries no secret).
"""

import base64
import fnmatch
import hashlib
import json
import os
import subprocess
import uuid

import pytest
from harness import CONNECTIONS, fingerprint, instance, report_key, running_host

CANARY = ("CANARY-%s" % uuid.uuid4().hex).encode()
BINARY_CANARY = b"\x00\xffBINCANARY\n" + uuid.uuid4().bytes
PLANTED = ("PLANTED-%s" % uuid.uuid4().hex).encode()
KEEP = {"ANSIBLE_KEEP_REMOTE_FILES": "1"}
INSTANCE = "leak"
SERVICE_CREDENTIALS = "/run/credentials/microvm@%s.service/" % INSTANCE
SCANNER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "leak_scanner.py")
# Filesystems that cannot hold a file anyone wrote (the kernel's views, cgroups, ...).
PSEUDO_FSTYPES = ("proc", "sysfs", "devtmpfs", "devpts", "cgroup", "cgroup2", "mqueue", "autofs", "binfmt_misc",
                  "fusectl", "securityfs", "debugfs", "tracefs", "pstore", "bpf", "configfs", "efivarfs", "nsfs",
                  "hugetlbfs", "rpc_pipefs")
RAM_FSTYPES = ("tmpfs", "ramfs")
# What Ansible leaves of a module run on the host: remote tmp directories, module
# wrappers and the directories they unpack themselves into.
PAYLOAD_NAMES = ("ansible-tmp-*", "AnsiballZ_*", "ansible_*_payload*")
# Non-secret strings the decoded payload of microvm_instances must show: its own code
# (inside the zip) and this instance's disk path (in its arguments).
INSTANCES_MODULE_CODE = b"module: microvm_instances"
INSTANCE_DISK = ("/var/lib/microvm/%s/root.qcow2" % INSTANCE).encode()
QCOW2_V3_HEADER = b"QFI\xfb\x00\x00\x00\x03"
RUN_ARGS = {
    "converge": ("-vvvv", "--diff"),
    "check": ("-vvvv", "--diff", "--check"),
    "rotate": ("-vvvv", "--diff", "-e", '{"microvm_rotate": ["%s/generated"]}' % INSTANCE),
    # Unchanged values travel too: the module compares them with the host's files.
    "normal": ("-vvvv", "--diff"),
}
# The runs with ANSIBLE_KEEP_REMOTE_FILES=1, before the normal one. Check mode and
# rotation make the same single module call whatever the connection: once is enough.
KEPT_RUNS = {"podman": ("converge", "check", "rotate"), "ssh": ("converge",), "ssh-nopipe": ("converge",)}


def base64_forms(value):
    """The base64 characters that encode VALUE alone, wherever it sits in a longer encoded blob."""
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + value)
        yield "base64+%d" % shift, encoded[(8 * shift + 5) // 6:(8 * (shift + len(value))) // 6]


def forms(value):
    """{form: bytes} of VALUE as a leak could show it."""
    found = {"raw": value, "hex": value.hex().encode(), "HEX": value.hex().upper().encode()}
    found.update(base64_forms(value))
    return found


def digest_forms(value):
    """{form: bytes} of VALUE's plain SHA-256 as a leak could show it, and the 16 hex digits a report could print."""
    digest = hashlib.sha256(value).digest()
    found = dict(("sha256-" + form, pattern) for form, pattern in forms(digest).items())
    found["sha256-hex16"] = digest.hex()[:16].encode()
    return found


def assert_absent(blob, secrets, where):
    for secret in secrets:
        for form, pattern in forms(secret).items():
            assert pattern not in blob, "a secret leaked into %s (%s form)" % (where, form)
        for form, pattern in digest_forms(secret).items():
            assert pattern not in blob, "a secret's plain digest leaked into %s (%s form)" % (where, form)


def module_payloads(host):
    """Paths of Ansible module files and remote tmp directories, on every filesystem of the host."""
    names = " -o ".join("-name '%s'" % n for n in PAYLOAD_NAMES)
    return set(host.sh("find / \\( -path /proc -o -path /sys \\) -prune -o \\( %s \\) -print" % names).split())


@pytest.fixture(scope="module", params=CONNECTIONS)
def host(request, tmp_path_factory):
    with running_host(request, tmp_path_factory, request.param) as h:
        yield h


@pytest.fixture(scope="module")
def runs(host, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("leak")
    text_src, bin_src = tmp / "canary.txt", tmp / "canary.bin"
    text_src.write_bytes(CANARY)
    bin_src.write_bytes(BINARY_CANARY)
    log = tmp / "ansible.log"
    host.write_inventory({"microvm_instances": {INSTANCE: instance(INSTANCE, {
        "canary": {"name": "app.token", "src": str(text_src)},
        "canary-bin": {"name": "canary.bin", "src": str(bin_src), "binary": True},
        "generated": {"name": "generated.key", "generate": {"type": "base64"}},
    }, report_key=True)}})
    host.prepare_disk(INSTANCE)
    env = {"ANSIBLE_LOG_PATH": str(log)}
    outputs, secrets = {}, {CANARY, BINARY_CANARY}
    for name in KEPT_RUNS[host.connection]:
        outputs[name] = host.converge(None, *RUN_ARGS[name], env=dict(env, **KEEP)).stdout
        secrets |= set(host.vault_values().values())
    kept = module_payloads(host)
    outputs["normal"] = host.converge(None, *RUN_ARGS["normal"], env=env).stdout
    left = module_payloads(host)
    report = host.wait_report(INSTANCE)
    outputs["log"] = log.read_text()
    return {"outputs": outputs, "report": report, "key": report_key(host.vault_values(), INSTANCE), "secrets": sorted(secrets),
            "kept": kept, "left": left}


def test_the_guest_received_the_canaries(runs):
    for name, value in (("app.token", CANARY), ("canary.bin", BINARY_CANARY)):
        assert runs["report"][name] == fingerprint(runs["key"], value)


def test_the_connection_is_the_one_asked_for(host, runs):
    normal = runs["outputs"]["normal"]
    if host.connection == "podman":
        assert "<%s> RUN [" % host.name in normal
        return
    assert "SSH: EXEC" in normal and "ESTABLISH SSH CONNECTION FOR USER: ansible" in normal
    assert "BECOME-SUCCESS-" in normal  # sudo to root
    sent_module_files = "AnsiballZ_" in "".join(line for line in normal.splitlines() if " PUT " in line)
    assert sent_module_files == (host.connection == "ssh-nopipe")


def test_ansible_output_and_log(host, runs):
    assert all(len(o) > 1000 for o in runs["outputs"].values())
    assert "<%s> " % host.address in runs["outputs"]["converge"]  # -vvvv really ran
    for name, output in runs["outputs"].items():
        assert_absent(output.encode(), runs["secrets"], "ansible output (%s)" % name)


def test_host_processes_argv_and_environment(host, runs):
    blob = host.sh("for p in /proc/[0-9]*; do cat $p/cmdline $p/environ 2>/dev/null; done", binary=True)
    assert b"qemu-system-x86_64" in blob
    assert_absent(blob, runs["secrets"], "a host process's argv or environment")


def test_host_journal_all_fields(host, runs):
    blob = host.sh("journalctl --no-pager -o export", binary=True)
    assert b"microvm@leak.service" in blob
    assert_absent(blob, runs["secrets"], "the host journal")


def test_unit_files_and_serial_log(host, runs):
    blob = host.sh("cat /etc/systemd/system/microvm@.service /etc/systemd/system/microvm@leak.service.d/* "
                   "/etc/microvm-credentials/instances/* /var/log/microvm/leak/serial.log", binary=True)
    assert b"LoadCredentialEncrypted=app.token:" in blob and b"MICROVM-CRED" in blob
    assert_absent(blob, runs["secrets"], "unit files, instance config or serial log")


# -- the file scan ------------------------------------------------------------


def planted_forms():
    """{form: bytes} of the planted value and of its plain digest (not its hex prefix, which the
    planted full hex digest holds too: each planted file must match its own form only)."""
    found = dict(forms(PLANTED), **digest_forms(PLANTED))
    del found["sha256-hex16"]
    return found


def scan_patterns(secrets):
    """[(label, bytes)]: every form of every secret and of the planted value, every form of
    their plain digests, and the controls."""
    labelled = [("secret%d" % i, s) for i, s in enumerate(secrets)]
    patterns = [("%s:%s" % (label, form), p) for label, value in labelled for form, p in forms(value).items()]
    patterns += [("digest%d:%s" % (i, form), p) for i, value in enumerate(secrets) for form, p in digest_forms(value).items()]
    patterns += [("planted:%s" % form, p) for form, p in planted_forms().items()]
    patterns += [("control:instances-module", INSTANCES_MODULE_CODE), ("control:instance-disk", INSTANCE_DISK),
                 ("control:qcow2", QCOW2_V3_HEADER)]
    assert all(len(p) >= 8 for dummy, p in patterns)
    return patterns


def plant(host):
    """Write the planted value and its plain digest on the host's disk, one file per form: {path: form}."""
    planted = {}
    for form, pattern in planted_forms().items():
        path = "/var/tmp/planted.%s" % form
        host.sh("cat > %s" % path, stdin=b"padding " + pattern + b" padding")
        planted[path] = form
    return planted


def run_scanner(host, patterns):
    """leak_scanner.py's report, run on the host with the patterns on its stdin."""
    with open(SCANNER) as f:
        source = f.read()
    request = {"patterns": [[label, p.hex()] for label, p in patterns], "skip_fstypes": list(PSEUDO_FSTYPES)}
    proc = subprocess.run(["podman", "exec", "-i", host.name, "python3", "-c", source], input=json.dumps(request).encode(),
                          capture_output=True, check=False)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def scan(host, runs):
    planted = plant(host)
    report = run_scanner(host, scan_patterns(runs["secrets"]))
    report["planted"] = planted
    return report


def hits(scan, prefix):
    return [(path, member, label, fstype) for path, member, label, fstype in scan["hits"] if label.startswith(prefix)]


def test_the_scan_covers_every_filesystem(scan):
    mounts = dict(scan["mounts"])
    assert mounts["/"] == "overlay" and mounts["/srv/microvm/images"] == "ext4" and mounts["/run"] == "tmpfs"
    assert scan["files"] > 1000
    assert scan["errors"] == []
    # Files deleted while the scan ran (journal, sockets' neighbours) cannot be read;
    # none may be a module file.
    assert [p for p in scan["vanished"] if any(fnmatch.fnmatch(part, n) for part in p.split("/") for n in PAYLOAD_NAMES)] == []


def test_the_scan_finds_a_value_planted_on_disk_in_every_form(scan):
    found = set((path, label) for path, member, label, fstype in hits(scan, "planted:") if member is None)
    assert found == set((path, "planted:" + form) for path, form in scan["planted"].items())


def test_the_scan_reads_the_guest_disk(scan):
    assert ("/var/lib/microvm/%s/root.qcow2" % INSTANCE, None, "control:qcow2", "overlay") in hits(scan, "control:qcow2")


def test_the_scan_finds_the_running_service_credentials(scan):
    assert any(path.startswith(SERVICE_CREDENTIALS) and fstype == "ramfs" for path, dummy, dummy, fstype in hits(scan, "secret"))


def test_the_scan_decodes_kept_module_payloads(scan):
    instances = [path for path in scan["ansiballz"] if os.path.basename(path).startswith("AnsiballZ_microvm_instances")]
    assert instances, "no kept AnsiballZ_microvm_instances file: %s" % sorted(scan["ansiballz"])
    code = set(path for path, member, dummy, dummy in hits(scan, "control:instances-module")
               if member and member.endswith("plugins/modules/microvm_instances.py"))
    params = set(path for path, member, dummy, dummy in hits(scan, "control:instance-disk") if member == "<params>")
    assert set(instances) <= code and set(instances) <= params


def test_no_secret_on_a_disk_backed_filesystem(scan):
    leaked = [h for h in hits(scan, "secret") if h[3] not in RAM_FSTYPES]
    assert leaked == [], "secrets on the host's disk:\n%s" % "\n".join(map(str, leaked))


def test_no_plain_digest_of_a_secret_in_any_file(scan):
    """Not even in memory: no file of the host holds a secret's plain SHA-256 (the guest's serial
    log once did, one line per credential)."""
    leaked = hits(scan, "digest")
    assert leaked == [], "plain digests of secrets in host files:\n%s" % "\n".join(map(str, leaked))


def test_no_secret_in_memory_but_the_service_credentials(scan):
    leaked = [h for h in hits(scan, "secret") if h[3] in RAM_FSTYPES and not h[0].startswith(SERVICE_CREDENTIALS)]
    assert leaked == [], "secrets in host files in memory:\n%s" % "\n".join(map(str, leaked))


def test_no_module_payload_left_by_a_normal_run(runs):
    assert runs["kept"], "ANSIBLE_KEEP_REMOTE_FILES=1 kept no module file"
    assert sorted(runs["left"] - runs["kept"]) == []
    assert [p for p in runs["left"] if "microvm_credentials" in os.path.basename(p)] == []
