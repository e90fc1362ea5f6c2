from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

from ansible_collections.microvm.credentials.plugins.plugin_utils._store.placement import (
    check_apart,
    check_outside_inventory,
    read_as_inventory,
)
from ansible_collections.microvm.credentials.plugins.plugin_utils._schema.checks import ConfigError


@pytest.fixture()
def layout(tmp_path):
    inventory, playbooks = tmp_path / "inventory", tmp_path / "playbooks"
    inventory.mkdir()
    playbooks.mkdir()
    return str(tmp_path), read_as_inventory(str(inventory), str(playbooks), [str(inventory), str(tmp_path / "hosts.ini")])


@pytest.mark.parametrize("store", [
    "inventory/.microvm-credentials/h1", "inventory/.secrets/h1", "inventory/group_vars/.store", "outside/h1",
    "playbooks/.microvm-credentials/h1", "playbooks/secrets/h1", "inventory-two/h1",
])
def test_stores_ansible_never_reads(layout, store):
    root, read_dirs = layout
    check_outside_inventory(os.path.join(root, store), "microvm_credentials_store", read_dirs)


@pytest.mark.parametrize("store,directory", [
    ("inventory/secrets/h1", "inventory"), ("inventory", "inventory"), ("inventory/group_vars/all/h1", "inventory"),
    ("playbooks/group_vars/secrets", "playbooks/group_vars"), ("playbooks/host_vars/h1", "playbooks/host_vars"),
])
def test_a_store_inside_the_inventory_is_refused(layout, store, directory):
    root, read_dirs = layout
    with pytest.raises(ConfigError, match="^microvm_credentials_store: %s is inside %s, which Ansible reads as inventory"
                                          % (os.path.join(root, store), os.path.join(root, directory))):
        check_outside_inventory(os.path.join(root, store), "microvm_credentials_store", read_dirs)


def test_an_inventory_file_makes_only_its_vars_directories_read(tmp_path):
    read_dirs = read_as_inventory(str(tmp_path), None, [str(tmp_path / "hosts.yml")])
    check_outside_inventory(str(tmp_path / "secrets"), "v", read_dirs)
    with pytest.raises(ConfigError, match="^v: "):
        check_outside_inventory(str(tmp_path / "host_vars" / "secrets"), "v", read_dirs)


@pytest.mark.parametrize("store,shared", [("/s/h1", "/s/h1"), ("/s/h1", "/s"), ("/s", "/s/shared"), ("/s/h1/", "/s/h1/x/..")])
def test_stores_that_nest_are_refused_naming_both(store, shared):
    with pytest.raises(ConfigError, match=r"^microvm_credentials_shared_store: .* and microvm_credentials_store \(/s.*\) are the same"):
        check_apart(store, "microvm_credentials_store", shared, "microvm_credentials_shared_store")


def test_stores_side_by_side():
    check_apart("/inv/.microvm-credentials/h1", "a", "/inv/.microvm-credentials-shared", "b")
    check_apart("/s/h1", "a", "/s/h10", "b")
