"""Templates in microvm_instances are rendered as a task argument "{{ microvm_instances }}"
renders them: the role's actions read the variable themselves, and template it only when
something in it may be a template (plugin_utils/_actions/variables.py)."""

import json

from harness import instance, recap

CRED_DIR = "/var/lib/microvm-credentials"


def group_vars(mem):
    spec = instance("web", {"token": {"name": "{{ app }}.token", "generate": {"type": "hex"}}}, autostart=False,
                    mem="{{ guest_mem }}", oem_strings=["site={{ site }}"])
    return {"app": "app", "site": "lab", "guest_mem": mem, "microvm_instances": {"web": spec}}


def config(host):
    return json.loads(host.sh("cat /etc/microvm-credentials/instances/web.json"))


def test_templates_in_microvm_instances_reach_the_host_rendered(host):
    host.converge(group_vars(384))
    got = config(host)
    assert got["mem"] == 384 and got["oem_strings"] == ["site=lab"]
    assert [c["name"] for c in got["credentials"]] == ["app.token"]
    assert host.sh("ls %s/web" % CRED_DIR).split() == ["app.token.cred"]
    assert recap(host.converge(group_vars(384)).stdout)["changed"] == 0


def test_a_changed_variable_under_a_template_changes_the_instance(host):
    proc = host.converge(group_vars(512))
    assert recap(proc.stdout)["changed"] >= 1
    assert config(host)["mem"] == 512
    assert recap(host.converge(group_vars(512)).stdout)["changed"] == 0
