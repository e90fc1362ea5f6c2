"""One converge of a real guest with a matrix row's ansible-core (tools/matrix.sh).

The row's ansible-playbook comes from MICROVM_ANSIBLE_PLAYBOOK and reaches the host
container over MICROVM_CONNECTION (podman, ssh or ssh-nopipe). The run converges,
reruns idempotently and compares the guest's credentials with the vault store.
"""

import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "integration"))
from harness import instance, recap, running_host  # noqa: E402  pylint: disable=wrong-import-position

CONNECTION = os.environ.get("MICROVM_CONNECTION", "podman")
EXPECT_CORE = os.environ.get("MICROVM_EXPECT_CORE")
GROUP_VARS = {"microvm_instances": {"conv": instance("conv", {
    "token": {"name": "app.token", "generate": {"type": "base64"}},
    "pw": {"inject": False, "generate": {"type": "password"}},
    "hash": {"name": "passwd.hashed-password.root", "generate": {"type": "passlib", "password_of": "pw"}},
}, report_key=True)}}


@pytest.fixture(scope="module")
def host(request, tmp_path_factory):
    with running_host(request, tmp_path_factory, CONNECTION) as running:
        yield running


def test_the_row_runs_its_own_ansible_core():
    if not EXPECT_CORE:
        pytest.skip("MICROVM_EXPECT_CORE is not set (tools/matrix.sh sets it)")
    playbook = os.environ.get("MICROVM_ANSIBLE_PLAYBOOK", "ansible-playbook")
    version = subprocess.run([playbook, "--version"], capture_output=True, text=True, check=True).stdout
    assert "[core %s]" % EXPECT_CORE in version, version


def test_converge_reaches_the_guest_and_reruns_unchanged(host):
    host.prepare_disk("conv")
    host.converge(GROUP_VARS)
    host.check_report(GROUP_VARS, "conv")
    assert recap(host.converge(GROUP_VARS).stdout)["changed"] == 0
