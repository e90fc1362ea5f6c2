from __future__ import absolute_import, division, print_function

__metaclass__ = type

import types

import pytest
from ansible import constants as C

from ansible_collections.microvm.credentials.plugins.action.microvm_instances import ActionModule, _ShallowVars
from ansible_collections.microvm.credentials.plugins.plugin_utils._schema.instances import ConfigError, host_view, normalize_instances


def can_pipe(transport, has_pipelining, become=None):
    connection = types.SimpleNamespace(transport=transport, has_pipelining=has_pipelining, become=become)
    return ActionModule._can_pipe(types.SimpleNamespace(_connection=connection))


def test_only_a_podman_connection_without_pipelining_is_piped_by_the_action():
    assert can_pipe("containers.podman.podman", False)
    # Connections with pipelining follow Ansible's configuration; others are copied as usual.
    assert not can_pipe("ssh", True)
    assert not can_pipe("containers.podman.podman", True)
    assert not can_pipe("community.docker.docker", False)
    assert not can_pipe("containers.podman.podman", False, become=types.SimpleNamespace(pipelining=False, name="su"))


def test_kept_remote_files_are_copied(monkeypatch):
    monkeypatch.setattr(C, "DEFAULT_KEEP_REMOTE_FILES", True)
    assert not can_pipe("containers.podman.podman", False)


def test_a_piped_call_pipelines_new_style_modules_but_not_async():
    fake = types.SimpleNamespace(_piped=True)
    assert ActionModule._is_pipelining_enabled(fake, "new")
    assert not ActionModule._is_pipelining_enabled(fake, "new", wrap_async=True)
    assert not ActionModule._is_pipelining_enabled(fake, "old")


def fake_action(args):
    from ansible.parsing.dataloader import DataLoader
    from ansible.plugins.loader import lookup_loader
    from ansible.template import Templar
    loader = DataLoader()
    action = ActionModule.__new__(ActionModule)
    action._task, action._loader, action._templar = types.SimpleNamespace(args=args), loader, Templar(loader=loader)
    action._shared_loader_obj = types.SimpleNamespace(lookup_loader=lookup_loader)
    return action


def stock_lookup(name, task_vars):
    """What lookup('ansible.builtin.template', NAME) gives: the lookup with its deep copy of the variables."""
    from ansible.plugins.loader import lookup_loader
    action = fake_action({})
    return lookup_loader.get("ansible.builtin.template", loader=action._loader, templar=action._templar).run([name], variables=task_vars)[0]


def test_templates_render_as_the_template_lookup_does_without_a_deep_copy(tmp_path, collection_finder):
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "unit.j2").write_text("# {{ ansible_managed }}\nExecStart={{ __launcher }} %i {{ big.a[0] }}\n")
    (templates / "launch.j2").write_text("#!/usr/bin/python3\n# {{ template_path }}\nLIB = {{ __lib | to_json }}\n")
    big = {"a": ["x"]}
    search_path = [str(tmp_path)]
    task_vars = {"ansible_search_path": search_path, "__launcher": "/usr/libexec/l", "__lib": "/usr/lib/m", "big": big}
    action = fake_action({"templates": {"launcher_script": "launch.j2", "units": {"microvm@.service": "unit.j2"}},
                          "lib_dir": "/usr/lib/m", "instances": []})
    args = action._module_args(task_vars)
    assert "templates" not in args and args["lib_dir"] == "/usr/lib/m"
    assert args["launcher_script"] == stock_lookup("launch.j2", task_vars) == '#!/usr/bin/python3\n# launch.j2\nLIB = "/usr/lib/m"\n'
    assert args["units"] == {"microvm@.service": stock_lookup("unit.j2", task_vars)}
    assert args["units"]["microvm@.service"] == "# Ansible managed\nExecStart=/usr/libexec/l %i x\n"
    # Nothing of the task's variables was changed, and nothing deep-copied.
    assert task_vars["ansible_search_path"] is search_path and search_path == [str(tmp_path)] and task_vars["big"] is big
    assert set(task_vars) == {"ansible_search_path", "__launcher", "__lib", "big"}


def test_the_variables_are_copied_shallowly():
    import copy
    big = {"a": [1]}
    variables = _ShallowVars(big=big, ansible_search_path=["/p"])
    copied = copy.deepcopy(variables)
    assert copied == variables and copied["big"] is big
    assert copied["ansible_search_path"] is not variables["ansible_search_path"]


def test_given_texts_pass_through():
    args = fake_action({"launcher_script": "#!/bin/sh\n", "units": {"u": "[Unit]\n"}, "instances": []})._module_args({})
    assert args == {"launcher_script": "#!/bin/sh\n", "units": {"u": "[Unit]\n"}, "instances": []}


def test_without_instances_the_host_view_of_microvm_instances_is_sent():
    raw = {"web": {"kernel": "/k", "credentials": {"tok": {"name": "app.tok", "generate": {"type": "hex"}}}}}
    args = fake_action({"lib_dir": "/usr/lib/m"})._module_args({"microvm_instances": raw})
    assert args["instances"] == [host_view(i) for i in normalize_instances(raw, "microvm_instances")]
    assert [c["name"] for c in args["instances"][0]["credentials"]] == ["app.tok"] and "generate" not in str(args["instances"])


def test_without_instances_a_bad_microvm_instances_is_an_error_naming_the_variable():
    with pytest.raises(ConfigError, match=r"^microvm_instances\.Bad"):
        fake_action({"lib_dir": "/usr/lib/m"})._module_args({"microvm_instances": {"Bad": {}}})
