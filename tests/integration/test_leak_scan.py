"""Canary leak scan: a known secret appears nowhere but the encrypted stores and the guest,
and its plain SHA-256 nowhere at all (a plain digest of a short secret is a dictionary lookup
away from it; only digests keyed with a secret may leave the store).

Once per row (ROWS: each connection with the vault store, podman; ssh as a non-root user
with become, pipelining on and off; and the sops store over podman) the real playbook
converges at -vvvv with --diff and ANSIBLE_KEEP_REMOTE_FILES=1: Ansible then leaves every
module file it sends on the host (and never pipelines). Over podman a --check run and a
rotation follow, kept the same way. Then, with one .cred deleted on the host, a normal run
(pipelined where the connection allows) decrypts that value from the store and sends it,
and must leave no module file anywhere. A last run changes nothing: every payload it pipes
to the host is kept in RAM (a capturing python3), and must hold tokens only. The kept runs leave the instance stopped
(microvm_start: false) and the normal run starts it, so the guest boots once per row, after
every value was sent: a restart would take the values the way a start does (systemd into the
service's credential directory, the launcher into pipes to the hypervisor). The canaries
and every value the store held (and, with sops, the operator's age private key) are then
looked for, raw, base64 (at each of the three byte alignments) and hex, and so are their
plain SHA-256 digests (the same forms, and the 16 hex digits a report could print), in:
every Ansible output and log, every host process's argv and environment, the host journal,
unit files, every file of every filesystem of the host (leak_scanner.py): disk-backed ones
must hold none; of the RAM-backed ones only systemd's credential directory of the running
service may; and every file left in the controller's TMPDIR of the runs.
The scanner decodes the zip and the arguments embedded in each kept AnsiballZ file.

The sops row runs every sops process under strace (a `sops` first on PATH): each one's
argv and environment must hold no secret (values reach `sops encrypt` on stdin, and come
back from `sops decrypt` on stdout), and none may create, write, rename or remove a file.

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
import re
import shutil
import subprocess
import uuid

import pytest
from harness import CAPTURING_PYTHON, CONNECTIONS, PAYLOAD_CAPTURE, ROOT, fingerprint, instance, recap, report_key, running_host, sops_values
from leak_scanner import ansiballz_parts

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
    # With LOST_CRED deleted on the host: one value travels, pipelined where the connection allows.
    "normal": ("-vvvv", "--diff"),
}
# The kept runs do not start the instance: its one boot follows the normal run.
STOPPED = ("-e", '{"microvm_start": false}')
# The runs with ANSIBLE_KEEP_REMOTE_FILES=1, before the normal one. Check mode and
# rotation make the same single module call whatever the connection: once is enough.
KEPT_RUNS = {"podman": ("converge", "check", "rotate"), "ssh": ("converge",), "ssh-nopipe": ("converge",)}
# (connection, store backend) of each row. sops runs on the controller, the same whatever the
# connection: one row, over podman, where the kept runs make, check and rotate secrets.
ROWS = [(connection, "vault") for connection in CONNECTIONS] + [("podman", "sops")]
# The last run changes nothing; every module payload piped to the host is kept in RAM for the scan.
CAPTURED_RUN = ("-vvvv", "--diff", "-e", '{"ansible_python_interpreter": "/usr/local/bin/python3-capture"}')
# Deleted on the host before the normal run: that run must decrypt this value and send it.
LOST_CRED = "/var/lib/microvm-credentials/%s/generated.key.cred" % INSTANCE
# What a sops process may not do unseen: run a program (its argv and environment are logged),
# or create, write, rename, link or remove a file.
SOPS_TRACE = ("execve,open,openat,openat2,creat,truncate,mkdir,mkdirat,rename,renameat,renameat2,link,linkat,"
              "symlink,symlinkat,unlink,unlinkat")
# --seccomp-bpf: only the traced calls stop sops (a Go program makes many others), which
# keeps strace from slowing every sops run down on a loaded machine.
SOPS_WRAPPER = """#!/bin/sh
exec strace -f --seccomp-bpf -qq -v -s 65536 -e signal=none -e trace=%(calls)s -o %(log)s/sops.$$.trace %(sops)s "$@"
"""
SYSCALL_RE = re.compile(r"^\d+\s+(\w+)\((.*)$")
WRITE_FLAGS_RE = re.compile(r"O_WRONLY|O_RDWR|O_CREAT|O_TRUNC")


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


def row_id(row):
    connection, backend = row
    return connection if backend == "vault" else "%s-%s" % row


@pytest.fixture(scope="module", params=ROWS, ids=row_id)
def row(request):
    return request.param


@pytest.fixture(scope="module")
def host(row, request, tmp_path_factory):
    with running_host(request, tmp_path_factory, row[0]) as h:
        yield h


def sops_setup(tmp):
    """(group vars, environment, the age private key, its file, the trace directory) of a sops store whose every
    sops process runs under strace: an age key of the operator's, and a traced `sops` first on PATH."""
    key_file = str(tmp / "operator.key")
    subprocess.run(["age-keygen", "-o", key_file], check=True, capture_output=True)
    public = subprocess.run(["age-keygen", "-y", key_file], check=True, capture_output=True, text=True).stdout.strip()
    with open(key_file, "rb") as f:
        private = [line for line in f.read().splitlines() if line.startswith(b"AGE-SECRET-KEY-")][0]
    traces, wrapper = tmp / "sops-traces", tmp / "bin"
    traces.mkdir()
    wrapper.mkdir()
    real = os.path.join(ROOT, ".venv", "bin", "sops")
    (wrapper / "sops").write_text(SOPS_WRAPPER % {"calls": SOPS_TRACE, "log": traces, "sops": real if os.path.exists(real) else shutil.which("sops")})
    (wrapper / "sops").chmod(0o755)
    group_vars = {"microvm_credentials_backend": "sops", "microvm_credentials_sops_recipients": [public]}
    env = {"SOPS_AGE_KEY_FILE": key_file, "PATH": "%s%s%s" % (wrapper, os.pathsep, os.environ["PATH"])}
    return group_vars, env, private, key_file, str(traces)


def store_values(host, key_file):
    """{INSTANCE/ID.vault: value} of the host's store, whichever backend keeps it."""
    return sops_values(host, key_file) if key_file else host.vault_values()


def files_under(top):
    """{path: bytes} of every file under TOP."""
    return dict((os.path.join(d, f), open(os.path.join(d, f), "rb").read()) for d, dummy, fs in os.walk(top) for f in fs
                if os.path.isfile(os.path.join(d, f)))


@pytest.fixture(scope="module")
def runs(row, host, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("leak")
    text_src, bin_src = tmp / "canary.txt", tmp / "canary.bin"
    text_src.write_bytes(CANARY)
    bin_src.write_bytes(BINARY_CANARY)
    log, controller_tmp = tmp / "ansible.log", tmp / "controller-tmp"
    controller_tmp.mkdir()
    group_vars = {"microvm_instances": {INSTANCE: instance(INSTANCE, {
        "canary": {"name": "app.token", "src": str(text_src)},
        "canary-bin": {"name": "canary.bin", "src": str(bin_src), "binary": True},
        "generated": {"name": "generated.key", "generate": {"type": "base64"}},
    }, report_key=True)}}
    env = {"ANSIBLE_LOG_PATH": str(log), "TMPDIR": str(controller_tmp)}
    secrets, key_file, traces = {CANARY, BINARY_CANARY}, None, None
    if row[1] == "sops":
        sops_vars, sops_env, private_key, key_file, traces = sops_setup(tmp)
        group_vars.update(sops_vars)
        env.update(sops_env)
        secrets.add(private_key)
    host.write_inventory(group_vars)
    host.prepare_disk(INSTANCE)
    outputs = {}
    for name in KEPT_RUNS[host.connection]:
        outputs[name] = host.converge(None, *(RUN_ARGS[name] + STOPPED), env=dict(env, **KEEP)).stdout
        secrets |= set(store_values(host, key_file).values())
    kept = module_payloads(host)
    host.sh("rm %s" % LOST_CRED)
    outputs["normal"] = host.converge(None, *RUN_ARGS["normal"], env=env).stdout
    host.sh("test -s %s" % LOST_CRED)  # sent again: the normal run decrypted it
    left = module_payloads(host)
    report = host.wait_report(INSTANCE)
    host.sh(CAPTURING_PYTHON)
    outputs["noop"] = host.converge(None, *CAPTURED_RUN, env=env).stdout
    outputs["log"] = log.read_text()
    return {"outputs": outputs, "report": report, "key": report_key(store_values(host, key_file), INSTANCE),
            "secrets": sorted(secrets), "kept": kept, "left": left, "controller_tmp": files_under(str(controller_tmp)),
            "sops_traces": traces and files_under(traces), "noop_payloads": captured_payloads(host)}


def captured_payloads(host):
    """{name: (the payload as piped, its arguments decoded or None)} of PAYLOAD_CAPTURE."""
    found = {}
    for name in host.sh("ls %s | grep '^payload' || true" % PAYLOAD_CAPTURE).split():
        source = host.sh("cat %s/%s" % (PAYLOAD_CAPTURE, name), binary=True)
        try:
            dummy, params = ansiballz_parts(source.decode("utf-8", "replace"))
        except (ValueError, SyntaxError):
            params = None
        found[name] = (source, params)
    return found


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


def test_a_noop_converge_sends_tokens_and_no_value(runs):
    """After the normal run nothing changes: the credentials module's call, piped to the host (kept in
    RAM by the capturing python3), holds a token per credential and no value in any form."""
    assert recap(runs["outputs"]["noop"])["changed"] == 0
    calls = [json.loads(params)["ANSIBLE_MODULE_ARGS"] for dummy, params in runs["noop_payloads"].values() if params]
    credentials = [c for args in calls for c in args.get("_credentials", [])]
    # The capture saw the call (else the test proves nothing): every injected credential, by token only.
    assert sorted(c["name"] for c in credentials) == ["app.token", "canary.bin", "generated.key", "report.key"]
    assert all(len(c["token"]) == 64 and "value" not in c for c in credentials)
    for name, (source, params) in runs["noop_payloads"].items():
        assert_absent(source, runs["secrets"], "a no-op converge's host call (%s)" % name)
        assert_absent((params or "").encode(), runs["secrets"], "a no-op converge's host call, decoded (%s)" % name)


def test_ansible_output_and_log(host, runs):
    assert all(len(o) > 1000 for o in runs["outputs"].values())
    assert "<%s> " % host.address in runs["outputs"]["converge"]  # -vvvv really ran
    for name, output in runs["outputs"].items():
        assert_absent(output.encode(), runs["secrets"], "ansible output (%s)" % name)


def test_no_secret_in_the_controllers_temporary_files(runs):
    """What the runs (and sops) left in their TMPDIR, if anything."""
    for path, data in runs["controller_tmp"].items():
        assert_absent(data, runs["secrets"], "a controller temporary file (%s)" % path)


def sops_calls(traces):
    """[(syscall, arguments)] of every traced sops process."""
    return [m.groups() for trace in traces.values() for m in map(SYSCALL_RE.match, trace.decode("utf-8", "replace").splitlines()) if m]


def test_sops_sees_no_secret_in_argv_or_environment(row, runs):
    if row[1] != "sops":
        pytest.skip("the vault store runs no sops")
    execs = [args for call, args in sops_calls(runs["sops_traces"]) if call == "execve"]
    # Positive control: the runs encrypted (made and rotated) and decrypted (the lost .cred) real
    # secrets through the traced sops, and strace logged the environment too.
    decrypts = [a for a in execs if '"decrypt"' in a and "/%s/generated.sops" % INSTANCE in a]
    assert decrypts and any('"encrypt"' in a and "/%s/generated.sops" % INSTANCE in a for a in execs)
    assert all("SOPS_AGE_KEY_FILE=" in a for a in decrypts)
    # Every value goes in and comes out through a pipe: sops reads /dev/stdin, never a file named in its argv.
    verbs = [a for a in execs if '"encrypt"' in a or '"decrypt"' in a]
    assert all(re.search(r'"/dev/stdin"\], \[', a) for a in verbs), [a for a in verbs if '"/dev/stdin"], [' not in a]
    for path, trace in runs["sops_traces"].items():
        assert_absent(trace, runs["secrets"], "a sops process's argv, environment or file names (%s)" % path)


def test_sops_writes_no_file(row, runs):
    if row[1] != "sops":
        pytest.skip("the vault store runs no sops")
    calls = sops_calls(runs["sops_traces"])
    assert any(call.startswith("open") and "/dev/stdin" in args for call, args in calls)  # strace sees its files
    written = [(call, args) for call, args in calls
               if call != "execve" and not (call.startswith("open") and not WRITE_FLAGS_RE.search(args))]
    assert written == [], "sops created, wrote, renamed or removed files:\n%s" % "\n".join(map(str, written))


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
