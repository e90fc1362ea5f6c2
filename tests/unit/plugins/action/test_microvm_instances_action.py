from __future__ import absolute_import, division, print_function

__metaclass__ = type

import types

from ansible import constants as C

from ansible_collections.microvm.credentials.plugins.action.microvm_instances import ActionModule


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
