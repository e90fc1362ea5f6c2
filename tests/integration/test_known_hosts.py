"""A second host trusts a microVM's SSH host key in the same run that generates it.

Host A runs the role (an ssh key pair for instance kh, not started: the key's way into
a guest is test_key_pairs.py's); a later play of the same run writes host B's
/etc/ssh/ssh_known_hosts from hostvars[A].microvm_public and from the lookup.
"""

import os
import subprocess
import uuid

import pytest
import yaml
from harness import instance, start_container

GROUP_VARS = {"microvm_instances": {"kh": instance("kh", {
    "host-key": {"name": "ssh.key", "inject_public": "ssh.pub", "generate": {"type": "ssh"}},
}, autostart=False)}}
PLAYBOOK = "tests/integration/playbooks/known_hosts.yml"


@pytest.fixture(scope="module")
def consumer():
    name = "mvc-it-known-hosts-b-%s" % uuid.uuid4().hex[:6]
    start_container(name)
    try:
        yield name
    finally:
        subprocess.run(["podman", "rm", "-f", "-t", "2", name], capture_output=True, check=False)


def test_second_host_trusts_the_guest_key_in_the_same_run(host, consumer):
    host.write_inventory(GROUP_VARS)
    with open(os.path.join(host.inventory, "hosts.yml")) as f:
        hosts = yaml.safe_load(f)
    hosts["consumers"] = {"hosts": {consumer: host.connection_vars()}}
    with open(os.path.join(host.inventory, "hosts.yml"), "w") as f:
        yaml.safe_dump(hosts, f)
    host.prepare_disk("kh")
    host.converge(None, playbook=PLAYBOOK)

    with open(os.path.join(host.store, "kh", "host-key.pub")) as f:
        public = f.read().strip()
    known = subprocess.run(["podman", "exec", consumer, "cat", "/etc/ssh/ssh_known_hosts"], capture_output=True,
                           text=True, check=True).stdout
    assert known.splitlines() == ["kh.example " + public, "kh-lookup.example " + public]
    # The key the guest would get (host A's sealed credential) is the one host B trusts.
    derived = host.sh("systemd-creds decrypt --name=ssh.key /var/lib/microvm-credentials/kh/ssh.key.cred - > /run/k && "
                      "chmod 0600 /run/k && ssh-keygen -y -f /run/k; rm -f /run/k").strip()
    assert public.startswith(derived)
