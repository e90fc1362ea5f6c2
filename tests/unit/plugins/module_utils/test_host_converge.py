from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ast
import os

import pytest

from ansible_collections.microvm.credentials.plugins.module_utils import _launcher
from ansible_collections.microvm.credentials.plugins.module_utils._host.converge import (
    Plan,
    apply,
    credentials_written,
    launcher_package,
)
from ansible_collections.microvm.credentials.plugins.module_utils._host.render import (
    install_directories,
    install_files,
    stale_package_entries,
)

LAUNCHER_DIR = os.path.dirname(_launcher.__file__)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the module makes root-owned files")


def repo_package():
    names = [n for n in os.listdir(LAUNCHER_DIR) if n.endswith(".py")]
    return dict((n, open(os.path.join(LAUNCHER_DIR, n), "rb").read()) for n in names)


def test_the_package_read_back_is_the_folder_byte_for_byte():
    assert launcher_package() == repo_package()


def _relative_imports(path):
    """Sibling modules PATH imports relatively (from . import x, from .x import y)."""
    with open(path) as f:
        tree = ast.parse(f.read())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            names.update([node.module.split(".")[0]] if node.module else [a.name for a in node.names])
    return names


def test_every_file_of_the_package_is_imported_from_the_entry_point():
    """AnsiballZ ships what the module imports: launch and, through its imports, the rest."""
    reached, todo = set(), ["launch"]
    while todo:
        name = todo.pop()
        if name not in reached:
            reached.add(name)
            todo.extend(_relative_imports(os.path.join(LAUNCHER_DIR, name + ".py")))
    assert reached | {"__init__"} == set(n[:-3] for n in repo_package())


class FakeModule:
    check_mode = False
    _diff = True

    def __init__(self):
        self.commands = []

    def atomic_move(self, src, dest):
        os.rename(src, dest)

    def get_bin_path(self, name, required=False):
        return name

    def run_command(self, argv, check_rc=False):
        self.commands.append(argv)
        return 0, "", ""


class FakeSystemctl:
    def __init__(self):
        self.calls = []

    def run(self, *args):
        self.calls.append(args)
        return 0, "", ""

    def must(self, *args):
        self.calls.append(args)
        return ""


def params(tmp_path, **kw):
    root = str(tmp_path)
    p = dict(instances=[], restart=[], start=True, purge=True, header="h",
             lib_dir=root + "/usr/lib/mc", launcher_package="pkg", launcher=root + "/usr/libexec/mc/launch",
             launcher_script="#!/usr/bin/python3\n", units={"microvm@.service": "[Unit]\n"},
             config_dir=root + "/etc/mc/instances", virtiofs_dir=root + "/etc/mc/virtiofs",
             unit_dir=root + "/etc/systemd/system", sysusers_dir=root + "/etc/sysusers.d",
             credential_directory=root + "/var/lib/mc")
    p.update(kw)
    return p


def converge(p, package, check_mode=False):
    plan = Plan(p, package, {})
    systemctl = FakeSystemctl()
    if plan.changed and not check_mode:
        apply(FakeModule(), plan, systemctl)
    return plan, systemctl.calls


PACKAGE = {"__init__.py": b"", "launch.py": b"def main():\n    pass\n"}


def test_first_install_writes_everything_and_reloads_systemd(tmp_path):
    p = params(tmp_path)
    plan, calls = converge(p, PACKAGE)
    assert [d for d, m in plan.directories] == [d for d, m in install_directories(p)]
    assert set(plan.written) == set(install_files(p, "", p["units"], PACKAGE)) | {p["sysusers_dir"] + "/microvm-credentials.conf"}
    assert calls == [("daemon-reload",)]
    with open(p["lib_dir"] + "/pkg/launch.py", "rb") as f:
        assert f.read() == PACKAGE["launch.py"]
    assert os.stat(p["launcher"]).st_mode & 0o7777 == 0o755
    assert os.stat(p["lib_dir"] + "/pkg/launch.py").st_mode & 0o7777 == 0o644
    assert os.stat(p["config_dir"]).st_mode & 0o7777 == 0o711
    assert os.stat(p["virtiofs_dir"]).st_mode & 0o7777 == 0o700
    again, calls = converge(p, PACKAGE)
    assert not again.changed and calls == []


def test_check_mode_changes_nothing_and_reports_the_same(tmp_path):
    p = params(tmp_path)
    plan, calls = converge(p, PACKAGE, check_mode=True)
    assert plan.changed and calls == []
    assert not os.path.exists(p["lib_dir"])
    assert [d["after_header"] for d in plan.result(True)["diff"]][:2] == [p["lib_dir"], p["lib_dir"] + "/pkg"]


def test_only_what_differs_is_written_and_a_unit_change_reloads(tmp_path):
    p = params(tmp_path)
    converge(p, PACKAGE)
    plan, calls = converge(p, dict(PACKAGE, **{"launch.py": b"changed\n"}))
    assert plan.written == [p["lib_dir"] + "/pkg/launch.py"] and calls == []
    assert not plan.restarted
    converge(p, PACKAGE)
    plan, calls = converge(dict(p, units={"microvm@.service": "[Unit]\nDescription=x\n"}), PACKAGE)
    assert plan.written == [p["unit_dir"] + "/microvm@.service"] and calls == [("daemon-reload",)]


def test_mode_and_directory_mode_are_put_back(tmp_path):
    p = params(tmp_path)
    converge(p, PACKAGE)
    os.chmod(p["launcher"], 0o777)
    os.chmod(p["config_dir"], 0o755)
    plan, dummy = converge(p, PACKAGE, check_mode=True)
    assert [(d["before"], d["after"]) for d in plan.result(True)["diff"]] == [
        ("directory, mode 0755, owner 0:0\n", "directory, mode 0711, owner 0:0\n"),
        ("mode 0777, owner 0:0\n", "mode 0755, owner 0:0\n")]
    plan, dummy = converge(p, PACKAGE)
    assert plan.written == [p["launcher"]] and [d for d, m in plan.directories] == [p["config_dir"]]
    assert os.stat(p["launcher"]).st_mode & 0o7777 == 0o755
    assert os.stat(p["config_dir"]).st_mode & 0o7777 == 0o711


def test_stale_package_files_are_removed_but_pycache_stays(tmp_path):
    p = params(tmp_path)
    converge(p, PACKAGE)
    folder = p["lib_dir"] + "/pkg"
    for name in ("old.py", "__pycache__/launch.cpython-311.pyc", "junk/x"):
        os.makedirs(os.path.dirname(os.path.join(folder, name)), exist_ok=True)
        open(os.path.join(folder, name), "w").close()
    plan, dummy = converge(p, PACKAGE, check_mode=True)
    assert plan.stale == [folder + "/junk", folder + "/old.py"]
    assert [(d["before"], d["after"]) for d in plan.result(True)["diff"]] == [("directory\n", ""), ("file\n", "")]
    converge(p, PACKAGE)
    assert sorted(os.listdir(folder)) == ["__init__.py", "__pycache__", "launch.py"]
    assert not converge(p, PACKAGE)[0].changed


def test_stale_package_entries_ignore_purge(tmp_path):
    p = params(tmp_path, purge=False)
    converge(p, PACKAGE)
    open(p["lib_dir"] + "/pkg/old.py", "w").close()
    assert converge(p, PACKAGE)[0].stale == [p["lib_dir"] + "/pkg/old.py"]


def test_stale_package_entries_pure():
    p = {"lib_dir": "/l", "launcher_package": "pkg"}
    assert stale_package_entries(p, ["a.py", "__pycache__", "b.py"], {"a.py": b""}) == ["/l/pkg/b.py"]


def test_credentials_written_is_the_newest_injected_file(tmp_path):
    directory = str(tmp_path)
    os.makedirs(directory + "/web")
    for name, when in (("a", 100), ("b", 300), ("hidden", 900)):
        open("%s/web/%s.cred" % (directory, name), "w").close()
        os.utime("%s/web/%s.cred" % (directory, name), (when, when))
    creds = [{"name": "a"}, {"name": "b", "inject": True}, {"name": "hidden", "inject": False}, {"name": "absent"}]
    instances = [{"name": "web", "credentials": creds}, {"name": "db", "credentials": [{"name": "a"}]}]
    assert credentials_written(instances, directory) == {"web": 300, "db": None}
