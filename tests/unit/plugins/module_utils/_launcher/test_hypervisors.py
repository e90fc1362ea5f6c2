from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.microvm.credentials.plugins.module_utils._launcher import hypervisors
from ansible_collections.microvm.credentials.plugins.module_utils._launcher.hypervisors import HYPERVISORS

CONSTANTS = ("NAME", "DEFAULT_BINARY", "DEFAULT_MACHINE", "OEM_LIMITS", "Error")
FUNCTIONS = ("version_problem", "machine_problem", "disk_problem", "resolve_accel", "sandbox_lines", "exec_argv",
             "ready", "boot", "stop")


@pytest.mark.parametrize("name", sorted(HYPERVISORS))
def test_each_hypervisor_implements_the_interface(name):
    module = HYPERVISORS[name]
    assert module.NAME == name
    for attr in CONSTANTS:
        assert getattr(module, attr) is not None, attr
    for attr in FUNCTIONS:
        assert callable(getattr(module, attr)), attr
    assert module.Error in hypervisors.ERRORS


def test_the_table_chooses_by_the_instances_name():
    assert hypervisors.of({"hypervisor": "qemu"}) is HYPERVISORS["qemu"]
    assert hypervisors.binary_of({"hypervisor": "cloud-hypervisor", "binary": None}) == "cloud-hypervisor"
    assert hypervisors.DEFAULT in HYPERVISORS


@pytest.mark.parametrize("name", sorted(HYPERVISORS))
def test_a_socket_that_is_not_there_is_not_ready(name, tmp_path):
    assert HYPERVISORS[name].ready(str(tmp_path / "api.sock")) is False


def test_cloud_hypervisor_never_reads_the_oem_strings_at_exec():
    def read():
        raise AssertionError("read at exec")
    argv = HYPERVISORS["cloud-hypervisor"].exec_argv({"api_socket": "/run/x/api.sock"}, "ch", read)
    assert argv == ["ch", "--api-socket", "path=/run/x/api.sock", "--seccomp", "true"]
