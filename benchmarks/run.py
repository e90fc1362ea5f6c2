# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Benchmarks of microvm.credentials: prints figures, never fails on a threshold.

    python3 benchmarks/run.py [--quick] [--only 1,2,3,4]      (or: make bench)

1. host round trips of one converge (module executions, podman processes), 1x1 vs Nx5,
   and an idempotent rerun against a one-task ansible.builtin.ping playbook (benchmarks/ping.yml)
2. idempotent rerun wall time, 1x1 vs Nx5
3. launcher overhead (microvm-launch exec NAME up to the hypervisor's execv), 1 vs 64 credentials
4. guest boot to credentials (QEMU TCG), 0 vs 8 credentials

See benchmarks/README.md for what each figure means. 1 and 2 use the integration
harness of tests/integration/harness.py (a systemd host container from the podman
image of `make images`, playbooks/site.yml run as a user would); 3 and 4 run the
launcher directly on this machine.
"""

from __future__ import absolute_import, division, print_function

import argparse
import json
import os
import platform
import resource
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

import jinja2
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "benchmarks")
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

# The integration harness: Host (inventory, playbook runs, podman exec), start_container.
import harness  # noqa: E402  pylint: disable=wrong-import-position


# Actions that run on the controller only (no module execution on the host).
CONTROLLER_ACTIONS = frozenset(
    a for n in ("set_fact", "debug", "fail", "assert", "meta", "include_tasks", "import_tasks", "include_role", "include_vars")
    for a in (n, "ansible.builtin." + n)
)
HOST_PYTHON = "/usr/bin/python3"  # the launcher's shebang (roles/microvm/templates/microvm-launch.j2)
DONE = harness.DONE


class Source:
    """The collection under test: a copy made at start, so that edits to the work tree
    while the benchmarks run do not change what they measure. ROOT is the copy,
    BASE the ANSIBLE_COLLECTIONS_PATH holding it as ansible_collections/microvm/credentials."""

    base = root = description = None

    @classmethod
    def snapshot(cls, rev, workdir):
        cls.base = os.path.join(workdir, "collections")
        cls.root = os.path.join(cls.base, "ansible_collections", "microvm", "credentials")
        os.makedirs(cls.root)
        if rev:
            commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--verify", rev + "^{commit}"], capture_output=True,
                                    text=True, check=True).stdout.strip()
            archive = subprocess.run(["git", "-C", ROOT, "archive", commit], capture_output=True, check=True).stdout
            subprocess.run(["tar", "-x", "-C", cls.root], input=archive, check=True)
            cls.description = "git archive %s (%s)" % (rev, commit[:12])
        else:
            # The files git knows, tracked and untracked-but-not-ignored (as the Makefile's sanity copy).
            names = subprocess.run(["git", "-C", ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                                   capture_output=True, check=True).stdout.decode().split("\0")
            for name in filter(None, names):
                src, dest = os.path.join(ROOT, name), os.path.join(cls.root, name)
                if os.path.isfile(src):
                    os.makedirs(os.path.dirname(dest), exist_ok=True)
                    shutil.copy2(src, dest)
            cls.description = "copy of the work tree at start (%s)" % run_text(["git", "-C", ROOT, "describe", "--always", "--dirty"])
        sys.path.insert(0, cls.base)

    @classmethod
    def path(cls, *parts):
        return os.path.join(cls.root, *parts)


def normalize_instance(name, spec):
    """The role's normalisation (plugin_utils/_schema/instances.py of the collection under test)."""
    from ansible_collections.microvm.credentials.plugins.plugin_utils._schema.instances import normalize_instance as normalize  # pylint: disable=import-outside-toplevel

    return normalize(name, spec)


# --- helpers -------------------------------------------------------------------

def median(values):
    return statistics.median(values) if values else float("nan")


def p90(values):
    """90th percentile, nearest rank."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, -(-len(ordered) * 9 // 10) - 1)]


def ratio(num, den):
    return num / den if den else float("nan")


def log(msg):
    sys.stderr.write("[bench %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def children_cpu():
    """User + system CPU seconds of all waited-for child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def changed_tasks(output):
    """Names of the tasks ansible's default output reports as changed."""
    task, changed = None, []
    for line in output.splitlines():
        if line.startswith(("TASK [", "RUNNING HANDLER [")):
            task = line[line.index("[") + 1:line.rindex("]")] if "]" in line else line
        elif line.startswith("changed: ") and task and task not in changed:
            changed.append(task)
    return changed


def run_text(argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True, check=False).stdout.strip()
    except OSError as exc:
        return "unavailable (%s)" % exc


class Table:
    def __init__(self, title, columns):
        self.title, self.columns, self.rows, self.notes = title, columns, [], []

    def add(self, *cells):
        self.rows.append([c if isinstance(c, str) else fmt(c) for c in cells])

    def render(self):
        widths = [max(len(r[i]) for r in [self.columns] + self.rows) for i in range(len(self.columns))]

        def line(cells):
            return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

        out = ["", self.title, "-" * len(self.title), line(self.columns), line(["-" * w for w in widths])]
        out += [line(r) for r in self.rows]
        out += ["  " + n for n in self.notes]
        return "\n".join(out)


def fmt(value):
    if isinstance(value, float):
        return "%.2f" % value
    return str(value)


# --- 1 and 2: converges against the host container ------------------------------

def credentials_spec(count):
    """COUNT (1 or up to 5) credentials of mixed generators (no passlib: its hashes are slow on purpose)."""
    if count == 1:
        return {"app-token": {"name": "app.token", "generate": {"type": "hex"}}}
    kinds = [
        ("api-key", {"generate": {"type": "hex"}}),
        ("session", {"generate": {"type": "base64"}}),
        ("admin-pw", {"generate": {"type": "password"}}),
        ("tls-seed", {"generate": {"type": "bytes"}}),
        ("db-pass", {"generate": {"type": "password", "length": 32}}),
    ]
    return dict(kinds[:count])


def group_vars(instances, secrets):
    # autostart: false: the instances get credentials and unit drop-ins, but no VM boots.
    return {"microvm_instances": dict(
        ("vm%02d" % i, harness.instance("vm%02d" % i, credentials_spec(secrets), autostart=False)) for i in range(instances))}


class Case:
    """One host container configured with INSTANCES x SECRETS."""

    def __init__(self, label, instances, secrets, workdir):
        self.label, self.instances, self.secrets = label, instances, secrets
        self.name = "mvc-bench-%s-%s" % (label, uuid.uuid4().hex[:6])
        self.tmp = os.path.join(workdir, self.name)
        os.makedirs(self.tmp)
        self.vars = group_vars(instances, secrets)
        self.host = None
        self.state = {}
        self.counts = {}
        self.first_wall = None
        self.rerun_walls = []
        self.ping_walls = []
        self.not_idempotent = []

    def start(self):
        harness.start_container(self.name)
        self.host = harness.Host(self.name, self.tmp)
        self.host.write_inventory(self.vars)

    def stop(self):
        try:
            harness.remove_container(self.name)
        except AssertionError as exc:
            log("WARNING %s" % exc)

    def converge(self, instrumented, label):
        """Run playbooks/site.yml once; return (wall seconds, recap, counts or None)."""
        env, files = {}, {}
        if instrumented:
            files = {"podman": os.path.join(self.tmp, "podman-%s.log" % label), "results": os.path.join(self.tmp, "results-%s.json" % label)}
            env = {
                "PATH": os.path.join(self.tmp, "bin") + os.pathsep + os.environ["PATH"],
                "BENCH_PODMAN_LOG": files["podman"],
                "BENCH_COUNT_FILE": files["results"],
                "ANSIBLE_CALLBACK_PLUGINS": os.path.join(BENCH, "callback_plugins"),
                "ANSIBLE_CALLBACKS_ENABLED": "bench_count",
            }
            self._podman_wrapper()
        cpu0, start = children_cpu(), time.perf_counter()
        proc = self.playbook(env=env)
        wall, cpu = time.perf_counter() - start, children_cpu() - cpu0
        if proc.returncode != 0:
            raise RuntimeError("converge %s of %s failed:\n%s" % (label, self.label, proc.stdout[-6000:]))
        counts = self._counts(files) if instrumented else None
        changed = changed_tasks(proc.stdout)
        if changed:
            self.not_idempotent.append("%s: %s" % (label, "; ".join(changed)))
        return (wall, cpu), harness.recap(proc.stdout), counts

    def playbook(self, *args, **kw):
        """playbooks/site.yml of the collection under test, through the harness's Host.playbook."""
        env = dict(kw.pop("env", None) or {}, ANSIBLE_COLLECTIONS_PATH=Source.base)
        playbook = kw.pop("playbook", Source.path("playbooks", "site.yml"))
        return self.host.playbook(None, *args, playbook=playbook, env=env, timeout=3600)

    def ping(self):
        """Wall seconds of benchmarks/ping.yml: one task, same inventory, connection and become."""
        start = time.perf_counter()
        proc = self.playbook(playbook=Source.path("benchmarks", "ping.yml"))
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError("ping playbook of %s failed:\n%s" % (self.label, proc.stdout[-6000:]))
        return wall

    def _podman_wrapper(self):
        """bin/podman: logs every podman process ansible starts (NUL separated), then runs podman."""
        path = os.path.join(self.tmp, "bin", "podman")
        if os.path.exists(path):
            return
        os.makedirs(os.path.dirname(path))
        with open(path, "w") as f:
            f.write('#!/bin/sh\nprintf \'%%s\\0\' "$*" >>"$BENCH_PODMAN_LOG"\nexec %s "$@"\n' % shlex.quote(shutil.which("podman")))
        os.chmod(path, 0o755)

    def _counts(self, files):
        with open(files["podman"], "rb") as f:
            calls = [c.decode(errors="replace") for c in f.read().split(b"\0") if c]
        with open(files["results"]) as f:
            tasks = json.load(f)[self.name]["tasks"]
        run = [t for t in tasks if t["status"] != "skipped"]
        host_side = [t for t in run if t["action"] not in CONTROLLER_ACTIONS]
        return {
            "tasks": len(run),
            "host_tasks": sum(t["items"] if t["items"] is not None else 1 for t in host_side),
            # A module is copied and run as AnsiballZ_*.py (the exec that runs it, not the chmod before),
            # or (microvm_credentials) piped into `exec -i`.
            "modules": sum(1 for c in calls if c.startswith("exec ") and (
                ("AnsiballZ_" in c and " chmod " not in c) or c.startswith("exec -i "))),
            "podman_exec": sum(1 for c in calls if c.startswith("exec ")),
            "podman_all": len(calls),
            "slowest": sorted(((t["seconds"], t["task"]) for t in run), reverse=True)[:3],
        }

    def host_state(self):
        out = self.host.sh(
            "find /var/lib/microvm-credentials -name '*.cred' | wc -l; "
            "ls -d /etc/systemd/system/microvm@*.service.d 2>/dev/null | wc -l; "
            "systemctl list-units --state=active --plain --no-legend 'microvm@*' | wc -l").split()
        return {"cred_files": int(out[0]), "dropins": int(out[1]), "active_units": int(out[2])}


def bench_converges(opts, workdir, tables):
    big_n = 10 if opts.quick else 50
    reruns = 3  # also with --quick: the rerun/ping ratio is a median of paired runs
    small = Case("1x1", 1, 1, workdir)
    big = Case("%dx5" % big_n, big_n, 5, workdir)
    cases = (small, big)
    try:
        for case in cases:
            log("starting host container %s" % case.name)
            case.start()
        for case in cases:
            # Warm-up in check mode (changes neither the host nor the controller store): the
            # first podman exec into a fresh container and cold caches would count otherwise.
            log("%s: warm-up converge (--check)" % case.label)
            proc = case.playbook("--check")
            if proc.returncode != 0:
                raise RuntimeError("warm-up of %s failed:\n%s" % (case.label, proc.stdout[-6000:]))
        for case in cases:
            log("%s: first converge (instrumented)" % case.label)
            case.first_wall, rc, case.counts["first"] = case.converge(True, "first")
            case.state = case.host_state()
            log("%s: first converge %.1fs, recap %s, host %s" % (case.label, case.first_wall[0], rc, case.state))
            log("%s: second converge (instrumented, idempotent)" % case.label)
            case.not_idempotent = []  # only reruns count
            dummy, rc, case.counts["rerun"] = case.converge(True, "rerun")
            if rc["changed"]:
                log("%s: WARNING the second converge changed %d task(s): %s" % (case.label, rc["changed"], case.not_idempotent))
        for i in range(reruns):
            for case in cases:
                case.ping_walls.append(case.ping())
                wall, rc, dummy = case.converge(False, "timed%d" % i)
                if rc["changed"]:
                    log("%s: WARNING timed rerun %d changed %d task(s)" % (case.label, i + 1, rc["changed"]))
                case.rerun_walls.append(wall)
                log("%s: ping %.2fs, timed idempotent rerun %d: %.2fs (controller CPU %.2fs)"
                    % (case.label, case.ping_walls[-1], i + 1, wall[0], wall[1]))
    finally:
        for case in cases:
            case.stop()

    if 1 in opts.only:
        t = Table("1. Host round trips per converge (one host; instances x secrets)",
                  ["converge / counter", small.label, big.label, "ratio"])
        for phase, what in (("first", "first converge"), ("rerun", "idempotent rerun")):
            for key, desc in (("tasks", "tasks run (not skipped)"),
                              ("host_tasks", "host task executions (loop items count)"),
                              ("modules", "module executions on the host (AnsiballZ)"),
                              ("podman_exec", "podman exec processes (round trips)"),
                              ("podman_all", "podman processes (exec, cp, mount)")):
                a, b = small.counts[phase][key], big.counts[phase][key]
                t.add("%s: %s" % (what, desc), a, b, "%.2f" % ratio(b, a))
        add_ping_rows(t, cases, reruns)
        for case in cases:
            t.notes.append("%s host after the first converge: %d .cred files, %d unit drop-in dirs, %d active microvm@ units"
                           % (case.label, case.state["cred_files"], case.state["dropins"], case.state["active_units"]))
        t.notes.append("instances have autostart: false (no VM boots); credentials are still generated, vaulted, encrypted on the host")
        t.notes.append("secrets of the %s case: hex, base64, password, bytes, password(32) per instance; the 1x1 case: one hex" % big.label)
        tables.append(t)
    if 2 in opts.only:
        t = Table("2. Converge time, seconds", ["converge", small.label, big.label, "ratio"])
        for i, what in ((0, "wall"), (1, "controller CPU (user+sys of ansible-playbook and its children)")):
            a, b = small.first_wall[i], big.first_wall[i]
            t.add("first converge (instrumented), %s" % what, a, b, "%.2f" % ratio(b, a))
        for i, what in ((0, "wall"), (1, "controller CPU")):
            a, b = median([w[i] for w in small.rerun_walls]), median([w[i] for w in big.rerun_walls])
            t.add("idempotent rerun, %s, median of %d" % (what, reruns), a, b, "%.2f" % ratio(b, a))
            if i == 0:
                per_cred = 1000 * (b - a) / (big.instances * big.secrets - 1)
        for case in cases:
            t.notes.append("rerun walls %s: %s" % (case.label, ", ".join("%.2f" % w[0] for w in case.rerun_walls)))
        for case in cases:
            t.notes.append("slowest tasks of the %s instrumented rerun: %s" % (case.label, "; ".join(
                "%s %.1fs" % (name, sec) for sec, name in case.counts["rerun"]["slowest"])))
        for case in cases:
            for what in case.not_idempotent:
                t.notes.append("WARNING %s rerun was not idempotent, %s" % (case.label, what))
        t.notes.append("rerun wall per extra credential: (%s - 1x1) / %d = %.1f ms"
                       % (big.label, big.instances * big.secrets - 1, per_cred))
        tables.append(t)


def add_ping_rows(table, cases, pairs):
    """The idempotent rerun against a one-task playbook on the same container (issue 9: at most 3x)."""
    small, big = cases
    rerun = [median([w[0] for w in case.rerun_walls]) for case in cases]
    ping = [median(case.ping_walls) for case in cases]
    table.add("idempotent rerun wall, s, median of %d" % pairs, rerun[0], rerun[1], "%.2f" % ratio(rerun[1], rerun[0]))
    table.add("one-task ping playbook wall, s, median of %d" % pairs, ping[0], ping[1], "%.2f" % ratio(ping[1], ping[0]))
    table.add("ratio idempotent rerun / ping (target <= 3)", "%.1f" % ratio(rerun[0], ping[0]),
              "%.1f" % ratio(rerun[1], ping[1]), "")
    for case in (small, big):
        table.notes.append("%s paired runs, ping/rerun s: %s" % (case.label, ", ".join(
            "%.2f/%.2f" % (p, r[0]) for p, r in zip(case.ping_walls, case.rerun_walls))))
    table.notes.append("ping: benchmarks/ping.yml (gather_facts: false, become: true, one ansible.builtin.ping task)"
                       " with the same inventory, connection and environment as the rerun")


# --- 3 and 4: the launcher on this machine ---------------------------------------

class Launcher:
    """The host launcher as the role installs it: the module_utils files the role copies
    (roles/microvm/vars/main.yml) in LIB/microvm_credentials/, the script rendered from
    roles/microvm/templates/microvm-launch.j2, and instance JSON in a config dir."""

    def __init__(self, workdir):
        with open(Source.path("roles", "microvm", "vars", "main.yml")) as f:
            role_vars = yaml.safe_load(f)
        self.dir = os.path.join(workdir, "launcher")
        self.lib = os.path.join(self.dir, "lib")
        self.config_dir = os.path.join(self.dir, "instances")
        self.package = role_vars["__microvm_launcher_package"]
        package = os.path.join(self.lib, self.package)
        os.makedirs(self.config_dir)
        shutil.copytree(Source.path("plugins", "module_utils", "_launcher"), package,
                        ignore=shutil.ignore_patterns("__pycache__"))
        with open(Source.path("roles", "microvm", "templates", "microvm-launch.j2")) as f:
            script = jinja2.Template(f.read(), keep_trailing_newline=True).render(
                __microvm_lib_dir=self.lib, __microvm_config_dir=self.config_dir, ansible_managed="benchmarks/run.py",
                __microvm_launcher_package=role_vars["__microvm_launcher_package"])
        self.path = os.path.join(self.dir, "microvm-launch")
        with open(self.path, "w") as f:
            f.write(script)
        os.chmod(self.path, 0o755)
        self.run_dir = os.path.join(self.dir, "run")
        os.makedirs(self.run_dir)

    def configure(self, name, spec, credentials):
        """Write NAME.json (normalised like the role does, run paths under the work dir) and a
        credentials directory holding CREDENTIALS ({name: bytes}); return the environment."""
        inst = normalize_instance(name, spec)
        inst.update(runtime_dir=os.path.join(self.run_dir, name), state_dir=os.path.join(self.run_dir, name),
                    serial_log=os.path.join(self.run_dir, name, "serial.log"),
                    api_socket=os.path.join(self.run_dir, name, "qmp.sock"))
        os.makedirs(inst["runtime_dir"], exist_ok=True)
        with open(os.path.join(self.config_dir, name + ".json"), "w") as f:
            json.dump(inst, f)
        creds = os.path.join(self.run_dir, name, "credentials")
        os.makedirs(creds, mode=0o700, exist_ok=True)
        for cname, value in credentials.items():
            with open(os.path.join(creds, cname), "wb") as f:
                f.write(value)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "MICROVM_CONFIG_DIR": self.config_dir,
               "CREDENTIALS_DIRECTORY": creds}
        return inst, env


def hex_credentials(count, prefix="cred"):
    names = ["%s%02d" % (prefix, i) for i in range(count)]
    spec = dict((n, {"generate": {"type": "hex"}}) for n in names)
    values = dict((n, os.urandom(16).hex().encode()) for n in names)
    return spec, values


# In-process probe: time from interpreter start of this code to os.execv, printed to stdout
# just before the exec (the launcher's own work: imports, config, credentials, pipes, argv).
_PROBE = r"""
import time
t0 = time.perf_counter()
import os, sys
sys.path.insert(0, %(lib)r)
real_execv = os.execv
def execv(path, argv):
    sys.stdout.write("%%.6f %%d\n" %% (time.perf_counter() - t0, sum(a.startswith("type=11,path=/dev/fd/") for a in argv)))
    sys.stdout.flush()
    real_execv(path, argv)
os.execv = execv
from %(package)s.launch import main
sys.exit(main(["exec", %(name)r]))
"""


def bench_launcher(opts, workdir, tables):
    reps = 5 if opts.quick else 30
    launcher = Launcher(workdir)
    base = {"hypervisor": "qemu", "binary": "/bin/true", "accel": "tcg", "vcpu": 1, "mem": 256,
            "kernel": "/nonexistent/vmlinuz", "cmdline": "console=ttyS0"}
    variants = {}
    for count in (1, 64):
        spec, values = hex_credentials(count)
        name = "launch%d" % count
        inst, env = launcher.configure(name, dict(base, credentials=spec), values)
        variants[count] = (name, env)
    baseline = os.path.join(launcher.dir, "baseline")
    with open(baseline, "w") as f:
        f.write("#!%s\nimport os\nos.execv('/bin/true', ['/bin/true'])\n" % HOST_PYTHON)
    os.chmod(baseline, 0o755)

    def timed(argv, env):
        cpu0, start = children_cpu(), time.perf_counter()
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        wall, cpu = time.perf_counter() - start, children_cpu() - cpu0
        if proc.returncode != 0:
            raise RuntimeError("%s failed (%d): %s" % (" ".join(argv), proc.returncode, proc.stderr))
        return wall, cpu, proc.stdout

    wall = {1: [], 64: [], "base": []}
    cpu = {1: [], 64: [], "base": []}
    inproc = {1: [], 64: []}
    pipes = {}
    for i in range(reps + 2):  # two warm-up rounds (page cache, .pyc files), interleaved variants
        for count, (name, env) in variants.items():
            w, c, dummy = timed([launcher.path, "exec", name], env)
            probe = _PROBE % {"lib": launcher.lib, "name": name, "package": launcher.package}
            dummy, dummy, out = timed([HOST_PYTHON, "-c", probe], env)
            seconds, npipes = out.split()
            if i >= 2:
                wall[count].append(w)
                cpu[count].append(c)
                inproc[count].append(float(seconds))
            pipes[count] = int(npipes)
        w, c, dummy = timed([baseline], {"PATH": os.environ.get("PATH", "")})
        if i >= 2:
            wall["base"].append(w)
            cpu["base"].append(c)

    t = Table("3. Launcher: `microvm-launch exec NAME` with binary /bin/true, ms (%d runs each)" % reps,
              ["measure", "1 cred", "64 creds", "ratio 64/1"])

    def ms(seconds):
        return 1000 * seconds

    for label, data in (("process wall: exec NAME until /bin/true exited", wall),
                        ("process CPU (user+sys)", cpu),
                        ("in-process: launcher import + main() until execv", inproc)):
        for stat_name, stat in (("median", median), ("p90", p90)):
            a, b = ms(stat(data[1])), ms(stat(data[64]))
            t.add("%s, %s" % (label, stat_name), a, b, "%.2f" % ratio(b, a))
    for label, data in (("wall", wall), ("CPU", cpu)):
        base_med = ms(median(data["base"]))
        t.add("baseline %s: %s start + execv /bin/true, median" % (label, HOST_PYTHON), base_med, base_med, "")
        a, b = ms(median(data[1])) - base_med, ms(median(data[64])) - base_med
        t.add("launcher overhead, %s = median - baseline" % label, a, b, "%.2f" % ratio(b, a))
    t.notes.append("OEM string pipes handed to the hypervisor: %d and %d (one per credential)" % (pipes[1], pipes[64]))
    t.notes.append("launcher = the role's module_utils copy + microvm-launch.j2 rendered, run by its shebang %s" % HOST_PYTHON)
    tables.append(t)


def process_cpu(pid):
    """User + system CPU seconds of the running process PID (all its threads)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / float(os.sysconf("SC_CLK_TCK"))


REPORT_START = "credential-report"  # systemd's "Starting credential-report.service" status line


def boot_once(launcher, name, env, inst, expected, timeout):
    """Boot once; return {"start": s, "done": s, "cpu_start": s, "cpu_done": s} measured from the
    launcher's start: wall seconds until the serial log shows the report service starting and
    its done line, and QEMU's CPU seconds (all threads) at those two moments."""
    serial = inst["serial_log"]
    if os.path.exists(serial):
        os.unlink(serial)
    overlay = inst["disks"][0]["path"]
    if os.path.exists(overlay):
        os.unlink(overlay)
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b",
                    os.path.join(harness.CACHE, "guest", "root.img"), overlay], check=True)
    result = {}
    start = time.perf_counter()
    proc = subprocess.Popen([launcher.path, "exec", name], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        while True:
            elapsed = time.perf_counter() - start
            text = ""
            if os.path.exists(serial):
                with open(serial, "rb") as f:
                    text = f.read().decode(errors="replace")
            if "start" not in result and (REPORT_START in text or DONE in text):
                result.update(start=elapsed, cpu_start=process_cpu(proc.pid))
            if DONE in text:
                result.update(done=elapsed, cpu_done=process_cpu(proc.pid))
                line = text[text.index(DONE):].splitlines()[0]
                count = int(line.rsplit("count=", 1)[-1]) if "count=" in line else -1
                if count != expected:
                    raise RuntimeError("guest reported %d credentials, expected %d" % (count, expected))
                return result
            if proc.poll() is not None:
                raise RuntimeError("the hypervisor exited (%d): %s" % (proc.returncode, proc.stderr.read().decode(errors="replace")))
            if elapsed > timeout:
                raise RuntimeError("no %r after %ds; serial tail:\n%s" % (DONE, timeout, text[-2000:]))
            time.sleep(0.05)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        proc.wait()
        proc.stderr.close()


def bench_boot(opts, workdir, tables):
    runs = 1 if opts.quick else 3
    guest = os.path.join(harness.CACHE, "guest")
    launcher = Launcher(os.path.join(workdir, "boot"))
    variants = {}
    for count in (0, 8):
        name = "boot%d" % count
        spec, values = hex_credentials(count)
        inst_spec = {"hypervisor": "qemu", "accel": "tcg", "machine": "q35", "vcpu": 1, "mem": 384,
                     "kernel": os.path.join(guest, "vmlinuz"), "cmdline": "console=ttyS0 root=/dev/nvme0n1 rw",
                     "disks": [{"path": os.path.join(launcher.run_dir, name + ".qcow2"), "format": "qcow2", "interface": "nvme"}],
                     "credentials": spec}
        inst, env = launcher.configure(name, inst_spec, values)
        variants[count] = (name, env, inst)
    results = {0: [], 8: []}
    for i in range(runs):
        for count, (name, env, inst) in variants.items():
            r = boot_once(launcher, name, env, inst, count, harness.BOOT_TIMEOUT)
            results[count].append(r)
            log("boot with %d credentials, run %d: report starts %.2fs, done %.2fs wall, %.2fs CPU"
                % (count, i + 1, r["start"], r["done"], r["cpu_done"]))
    t = Table("4. Guest boot to credentials (QEMU TCG, q35, 1 vCPU, 384 MiB, qcow2 overlay), seconds, median of %d" % runs,
              ["from the launcher's start until", "0 creds", "8 creds", "ratio 8/0"])
    rows = (
        ("wall: serial log shows '%s'" % DONE, lambda r: r["done"]),
        ("wall: report service starting (PID 1 has the credentials)", lambda r: r["start"]),
        ("wall: report service start to done (the guest's probe)", lambda r: r["done"] - r["start"]),
        ("CPU (user+sys) of launcher+QEMU at done", lambda r: r["cpu_done"]),
        ("CPU (user+sys) of launcher+QEMU at report start", lambda r: r["cpu_start"]),
    )
    for label, value in rows:
        a, b = median([value(r) for r in results[0]]), median([value(r) for r in results[8]])
        t.add(label, a, b, "%.3f" % ratio(b, a))
    for count in (0, 8):
        t.notes.append("runs %d creds (start/done wall, CPU at done): %s" % (count, ", ".join(
            "%.2f/%.2f, %.2f" % (r["start"], r["done"], r["cpu_done"]) for r in results[count])))
    t.notes.append("each run: fresh overlay on %s, VM killed (SIGKILL) once the done line is on the serial log;"
                   " the guest reported exactly 0 / 8 credentials" % os.path.join(guest, "root.img"))
    per_cred = (median([r["done"] - r["start"] for r in results[8]]) - median([r["done"] - r["start"] for r in results[0]])) / 8
    t.notes.append("the guest's report (credential-report, POSIX sh) runs wc and sha256sum per credential while the rest of"
                   " the boot competes: %.2f s per credential under TCG here, part of the done figure" % per_cred)
    tables.append(t)


# --- main ------------------------------------------------------------------------

def header(opts):
    probe = subprocess.run([os.path.join(ROOT, "tools", "kvm-usable.sh"), "--kvm-only"], capture_output=True, text=True, check=False)
    reason = probe.stderr.strip().replace("KVM probe: ", "")
    kvm = "usable" if probe.returncode == 0 else "not usable (%s)" % (reason[:150] + "..." if len(reason) > 150 else reason)
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        pass
    try:
        with open("/proc/meminfo") as f:
            mem_kib = int(f.readline().split()[1])
    except (OSError, ValueError, IndexError):
        mem_kib = 0
    facts = [
        ("command", "cd %s && %s" % (shlex.quote(os.getcwd()), shlex.join([sys.executable] + sys.argv))),
        ("figures", ",".join(str(n) for n in sorted(opts.only)) + (" (--quick)" if opts.quick else "")),
        ("date", time.strftime("%Y-%m-%d %H:%M:%S %z")),
        ("source", Source.description),
        ("nproc", "%s (affinity %d), %s" % (run_text(["nproc"]), len(os.sched_getaffinity(0)), cpu)),
        ("memory", "%.1f GiB" % (mem_kib / 1048576.0)),
        ("kernel", platform.release()),
        ("kvm", kvm + "; figure 4 uses QEMU TCG either way"),
        ("qemu", run_text(["qemu-system-x86_64", "--version"]).splitlines()[0] if shutil.which("qemu-system-x86_64") else "missing"),
        ("podman", run_text(["podman", "--version"])),
        ("ansible", run_text(["ansible-playbook", "--version"]).splitlines()[0]),
        ("python", "%s (controller), %s (launcher)" % (platform.python_version(), run_text([HOST_PYTHON, "-V"]))),
        ("host image", "%s %s" % (harness.IMAGE, run_text(["podman", "image", "inspect", "-f", "{{.Id}}", harness.IMAGE])[:12])),
        ("load average", "%.2f %.2f %.2f at start" % os.getloadavg()),
    ]
    width = max(len(k) for k, v in facts)
    return "\n".join("%s  %s" % (k.ljust(width), v) for k, v in facts)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--quick", action="store_true",
                        help="fewer repetitions: 10 instances instead of 50, 5 launcher runs, 1 boot each")
    parser.add_argument("--only", default="1,2,3,4", help="comma separated figures to run, e.g. --only 3 or --only 1,2")
    parser.add_argument("--rev", metavar="REV",
                        help="benchmark this git revision (git archive) instead of a copy of the work tree, e.g. --rev HEAD")
    opts = parser.parse_args()
    try:
        opts.only = set(int(n) for n in opts.only.split(",") if n.strip())
    except ValueError:
        parser.error("--only takes figure numbers 1-4, e.g. --only 3,4")
    if not opts.only or not opts.only <= {1, 2, 3, 4}:
        parser.error("--only takes figure numbers 1-4, e.g. --only 3,4")

    if opts.only & {1, 2}:
        missing = harness.requirements_missing()
        if missing:
            parser.error("figures 1 and 2 need the host container: " + missing)
    if 4 in opts.only and not os.path.exists(os.path.join(harness.CACHE, "guest", "root.img")):
        parser.error("figure 4 needs the guest image in %s/guest (make images)" % harness.CACHE)

    tables = []
    workdir = tempfile.mkdtemp(prefix="microvm-bench-")
    started = time.time()
    try:
        Source.snapshot(opts.rev, workdir)
        print("microvm.credentials benchmarks")
        print(header(opts))
        sys.stdout.flush()
        if opts.only & {1, 2}:
            bench_converges(opts, workdir, tables)
        if 3 in opts.only:
            log("launcher overhead")
            bench_launcher(opts, workdir, tables)
        if 4 in opts.only:
            log("guest boots")
            bench_boot(opts, workdir, tables)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    for t in tables:
        print(t.render())
    print("\nload average %.2f %.2f %.2f at the end; total %.0fs" % (os.getloadavg() + (time.time() - started,)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
