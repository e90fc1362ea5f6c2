"""The microvm_instances call installs the launcher whole: the host's package folder holds
exactly plugins/module_utils/_launcher/*.py, byte for byte; a stray or edited file, a
wrong mode or a hand-edited unit is put back (check mode first changes nothing), and
systemd is reloaded when a unit file changed."""

import hashlib
import os
import re

import yaml

from harness import instance, recap

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAUNCHER_SRC = os.path.join(ROOT, "plugins", "module_utils", "_launcher")


def role_vars():
    with open(os.path.join(ROOT, "roles", "microvm", "vars", "main.yml")) as f:
        return yaml.safe_load(f)


def package_dir():
    v = role_vars()
    return os.path.join(v["__microvm_lib_dir"], v["__microvm_launcher_package"])


def repo_sums():
    sums = {}
    for name in sorted(os.listdir(LAUNCHER_SRC)):
        if name.endswith(".py"):
            with open(os.path.join(LAUNCHER_SRC, name), "rb") as f:
                sums[name] = hashlib.sha256(f.read()).hexdigest()
    return sums


def host_sums(host):
    out = host.sh("cd %s && for f in *; do [ \"$f\" = __pycache__ ] || sha256sum \"$f\"; done" % package_dir())
    return dict(reversed(line.split("  ", 1)) for line in out.splitlines())


GROUP_VARS = {"microvm_instances": {"one": instance("one", {"token": {"name": "app.token", "generate": {"type": "hex"}}},
                                                    autostart=False)}}


def package_task(output):
    """The result line of the "Install hypervisors" task: ok, changed or skipping."""
    block = output.split("Install hypervisors]", 1)[1].split("TASK [", 1)[0]
    return re.search(r"^(ok|changed|skipping|failed|fatal):", block, re.M).group(1)


def test_the_host_package_is_the_repo_folder_byte_for_byte(host):
    # The host image has QEMU: no package module runs.
    assert package_task(host.converge(GROUP_VARS).stdout) == "skipping"
    assert host_sums(host) == repo_sums()
    launcher = role_vars()["__microvm_launcher"]
    # The installed script imports the installed package: its usage line proves it.
    assert "usage: microvm-launch" in host.sh("%s 2>&1 || true" % launcher)
    assert host.sh("stat -c '%%a %%U:%%G' %s %s %s/launch.py" % (launcher, package_dir(), package_dir())).split("\n")[:3] == [
        "755 root:root", "755 root:root", "644 root:root"]


def test_drift_is_reported_in_check_mode_then_put_back(host):
    launcher = role_vars()["__microvm_launcher"]
    host.sh("echo '# edited' >> %s/launch.py && touch %s/stale.py && chmod 0700 %s"
            " && echo '# edited' >> /etc/systemd/system/microvm@.service" % (package_dir(), package_dir(), launcher))
    before = host_sums(host)
    proc = host.converge(GROUP_VARS, "--check", "--diff")
    assert recap(proc.stdout)["changed"] == 1
    assert "stale.py" in proc.stdout and "# edited" in proc.stdout and "mode 0700" in proc.stdout, proc.stdout
    assert host_sums(host) == before

    host.converge(GROUP_VARS)
    assert host_sums(host) == repo_sums()
    assert host.sh("stat -c %%a %s" % launcher).strip() == "755"
    assert host.sh("systemctl show -p NeedDaemonReload microvm@one.service").strip() == "NeedDaemonReload=no"
    assert recap(host.converge(GROUP_VARS).stdout)["changed"] == 0


def test_packages_only_for_a_missing_hypervisor_binary(host):
    missing = {"microvm_instances": {"one": dict(GROUP_VARS["microvm_instances"]["one"], binary="/usr/local/bin/no-qemu")}}
    assert package_task(host.converge(dict(missing, microvm_manage_packages=False)).stdout) == "skipping"
    # An installed package stands in for QEMU's: the task runs, and changes nothing.
    assert package_task(host.converge(dict(missing, microvm_packages={"qemu": ["systemd"]})).stdout) == "ok"
    assert package_task(host.converge(GROUP_VARS).stdout) == "skipping"
