"""The role's `credentials` entry point: stores and encrypts credentials, installs nothing else."""

import base64

from harness import instance, recap

GROUP_VARS = {"microvm_instances": {"solo": instance("solo", {
    "token": {"name": "app.token", "generate": {"type": "base64"}},
    "key": {"name": "wg.key", "binary": True, "generate": {"type": "bytes", "bytes": 16}},
})}}
PLAYBOOK = "tests/integration/playbooks/credentials_only.yml"


def test_credentials_entry_point_alone(host):
    proc = host.converge(GROUP_VARS, playbook=PLAYBOOK)
    assert recap(proc.stdout)["changed"] >= 1
    values = host.vault_values()
    assert sorted(values) == ["solo/key.vault", "solo/token.vault"]
    for cred_id, name in (("token", "app.token"), ("key", "wg.key")):
        plain = host.sh("systemd-creds decrypt --name=%s /var/lib/microvm-credentials/solo/%s.cred - | base64 -w0" % (name, name))
        assert base64.b64decode(plain) == values["solo/%s.vault" % cred_id]
    # Nothing of the launcher or the units: this entry point only handles credentials.
    assert host.sh("ls /etc/systemd/system/microvm@.service /usr/libexec/microvm-credentials 2>&1 || true").count("No such file") == 2
    assert recap(host.converge(GROUP_VARS, playbook=PLAYBOOK).stdout)["changed"] == 0
