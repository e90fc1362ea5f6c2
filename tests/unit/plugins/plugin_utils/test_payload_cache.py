from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

from ansible_collections.microvm.credentials.plugins.plugin_utils._actions import payload_cache
from ansible_collections.microvm.credentials.plugins.plugin_utils._actions.payload_cache import KEEP, RUN_CACHE, key, private_dir, reused

PREFIX = "ansible_collections.ns.col.plugins.modules.mod-"
NAME = PREFIX + "ZIP_STORED-none"
VERSIONS = ("2.19.14", "3.11", "ZIP_STORED")


@pytest.fixture
def sources(tmp_path):
    """A module and a module_utils tree, as a collection has them."""
    utils = tmp_path / "col" / "plugins" / "module_utils"
    (utils / "_host").mkdir(parents=True)
    (utils / "_host" / "store.py").write_text("A = 1\n")
    (utils / "__init__.py").write_text("")
    module = tmp_path / "col" / "plugins" / "modules" / "mod.py"
    module.parent.mkdir(parents=True)
    module.write_text("import x\n")
    return str(module), [str(utils)]


def run_dir(tmp_path, n):
    """A run's DEFAULT_LOCAL_TMP, beside the others (ansible-local-*)."""
    path = tmp_path / "tmp" / ("ansible-local-%d" % n)
    path.mkdir(parents=True)
    return str(path)


def build(run_tmp, sources, payload):
    """One module build: what is in the run's cache after reused() put back what it kept, and
    what Ansible would then find or write (PAYLOAD, only when nothing was there)."""
    module, roots = sources
    with reused(run_tmp, PREFIX, module, roots, VERSIONS):
        path = os.path.join(run_tmp, RUN_CACHE, NAME)
        found = open(path).read() if os.path.exists(path) else None
        if found is None:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(payload)
    return found


def edit(path, text):
    st = os.stat(path)
    with open(path, "w") as f:
        f.write(text)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1000000000))


def test_the_key_follows_every_source_and_version(sources):
    module, roots = sources
    first = key(module, roots, VERSIONS)
    assert key(module, roots, VERSIONS) == first
    edit(os.path.join(roots[0], "_host", "store.py"), "A = 2\n")
    second = key(module, roots, VERSIONS)
    assert second != first
    with open(os.path.join(roots[0], "_host", "new.py"), "w") as f:
        f.write("")
    third = key(module, roots, VERSIONS)
    assert third != second
    edit(module, "import y\n")
    assert key(module, roots, VERSIONS) != third
    assert key(module, roots, ("2.20.0",) + VERSIONS[1:]) != key(module, roots, VERSIONS)


def test_a_payload_is_built_once_and_rebuilt_when_a_source_changes(tmp_path, sources):
    assert build(run_dir(tmp_path, 1), sources, "payload 1") is None  # built by Ansible, then kept
    assert build(run_dir(tmp_path, 2), sources, "unused") == "payload 1"  # the next run finds it
    edit(os.path.join(sources[1][0], "_host", "store.py"), "A = 2\n")
    assert build(run_dir(tmp_path, 3), sources, "payload 2") is None  # stale: built again
    assert build(run_dir(tmp_path, 4), sources, "unused") == "payload 2"
    keep = tmp_path / "tmp" / KEEP
    assert len(os.listdir(str(keep))) == 1  # the stale one is gone
    assert os.stat(str(keep)).st_mode & 0o777 == 0o700


@pytest.mark.parametrize("spoil", ["open", "symlink"])
def test_a_keep_directory_others_could_write_is_never_read(tmp_path, sources, spoil):
    build(run_dir(tmp_path, 1), sources, "payload 1")
    keep = str(tmp_path / "tmp" / KEEP)
    if spoil == "open":
        os.chmod(keep, 0o777)
    else:
        os.rename(keep, keep + ".real")
        os.symlink(keep + ".real", keep)
    assert private_dir(keep) is None
    assert build(run_dir(tmp_path, 2), sources, "payload 2") is None


def test_an_action_without_plugin_loaders_builds_as_ansible_does():
    assert payload_cache.for_action(object(), "ns.col.mod").__class__.__name__ == "nullcontext"
