"""The host modules' code kept between runs (plugin_utils/_actions/payload_cache.py) is
never stale: a module_utils file edited between two converges reaches the host in the
second, in both host modules' payloads.

The collection is a copy under the test's tmp (its files are edited), and the host's
Python is wrapped so that every payload Ansible pipes to it is kept in /run for the
test to unzip. Nothing boots (autostart: false).
"""

import os
import shutil
import uuid

import pytest
from harness import CAPTURING_PYTHON, PAYLOAD_CAPTURE, ROOT, instance
from leak_scanner import ansiballz_parts, zip_members

EDITED = ("credstore.py", "converge.py")  # plugins/module_utils/_host/, one in each host module


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    """ANSIBLE_COLLECTIONS_PATH holding a copy of this collection."""
    base = tmp_path_factory.mktemp("collections")
    copy = base / "ansible_collections" / "microvm" / "credentials"
    copy.mkdir(parents=True)
    for name in ("galaxy.yml", "meta", "plugins", "playbooks", "roles"):
        src = os.path.join(ROOT, name)
        if os.path.isdir(src):
            shutil.copytree(src, str(copy / name), ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(src, str(copy / name))
    return str(base), str(copy)


def converge(host, collection):
    base, copy = collection
    host.converge(None, playbook=os.path.join(copy, "playbooks", "site.yml"), env={"ANSIBLE_COLLECTIONS_PATH": base})


def shipped(host, name):
    """The _host/NAME of every module payload piped to the host since the last reset."""
    found = []
    for capture in host.sh("ls %s | grep '^payload' || true" % PAYLOAD_CAPTURE).split():
        source = host.sh("cat %s/%s" % (PAYLOAD_CAPTURE, capture), binary=True).decode("utf-8", "replace")
        if "_ansiballz_main" not in source and "ZIPDATA" not in source:
            continue
        data, dummy = ansiballz_parts(source)
        found += [text for member, text in zip_members(data) if member.endswith("module_utils/_host/" + name)]
    return found


def test_an_edited_module_util_reaches_the_host_at_the_next_converge(host, collection):
    host.sh(CAPTURING_PYTHON)
    host.prepare_disk("web")
    host.write_inventory({"microvm_start": False, "microvm_instances": {"web": instance("web", {
        "db": {"name": "db.password", "generate": {"type": "password"}}}, autostart=False)}})
    inventory = host.inventory + "/hosts.yml"
    with open(inventory) as f:
        text = f.read()
    with open(inventory, "w") as f:
        f.write(text.replace("/usr/bin/python3", "/usr/local/bin/python3-capture"))
    converge(host, collection)  # builds both payloads, and keeps them
    converge(host, collection)  # uses the kept ones
    marker = "# edited %s\n" % uuid.uuid4().hex
    for name in EDITED:
        with open(os.path.join(collection[1], "plugins", "module_utils", "_host", name), "a") as f:
            f.write(marker)
    host.sh("rm -f %s/payload.*" % PAYLOAD_CAPTURE)
    converge(host, collection)
    for name in EDITED:
        texts = shipped(host, name)
        assert texts and all(t.endswith(marker.encode()) for t in texts), "a stale %s went to the host" % name
