"""The secret-carrying module's payload goes on stdin, or the run is refused."""

import pytest

from ansible_collections.microvm.credentials.plugins.plugin_utils._actions.transport import (
    PODMAN_TRANSPORT,
    TransportError,
    check_pipe,
    stdin_capable,
)


class Become:
    def __init__(self, name, pipelining):
        self.name, self.pipelining = name, pipelining


class Connection:
    transport = "ssh"
    has_pipelining = True
    become = None

    def exec_command(self, cmd, in_data=None, sudoable=True):
        return ("class", cmd, in_data)


class Podman(Connection):
    transport = PODMAN_TRANSPORT
    has_pipelining = False

    def __init__(self, user=None):
        self.user = user
        self._connected = False
        self.calls = []

    def _connect(self):
        self._connected = True

    def _podman(self, cmd, cmd_args=None, in_data=None):
        self.calls.append((cmd, cmd_args, in_data))
        return 0, b"{}", b""


def test_ssh_pipes_and_keeps_its_own_exec():
    conn = Connection()
    with stdin_capable(conn) as c:
        assert c.exec_command("python3", in_data=b"payload") == ("class", "python3", b"payload")


def test_podman_gets_an_exec_that_forwards_stdin_then_its_own_back():
    conn = Podman(user="root")
    with stdin_capable(conn):
        conn.exec_command("/bin/sh -c 'python3 && sleep 0'", in_data=b"payload")
    assert conn._connected
    assert conn.calls == [(["exec", "-i", "--user", "root"], ["/bin/sh", "-c", "python3 && sleep 0"], b"payload")]
    assert conn.exec_command("x")[0] == "class"


def test_a_podman_connection_that_pipelines_keeps_its_own_exec():
    conn = Podman()
    conn.has_pipelining = True  # containers.podman 1.20 and later
    with stdin_capable(conn):
        assert conn.exec_command("python3", in_data=b"payload") == ("class", "python3", b"payload")
    assert conn.calls == []


def test_podman_exec_is_restored_after_an_error():
    conn = Podman()
    with pytest.raises(RuntimeError):
        with stdin_capable(conn):
            raise RuntimeError("module failed")
    assert "exec_command" not in vars(conn)


def test_a_connection_without_pipelining_is_refused_before_anything_runs():
    conn = Connection()
    conn.transport, conn.has_pipelining = "community.general.lxd", False
    with pytest.raises(TransportError, match="community.general.lxd cannot pass data on stdin"):
        check_pipe(conn)
    with pytest.raises(TransportError):
        with stdin_capable(conn):
            pytest.fail("must not run")


def test_a_become_method_that_cannot_pipeline_is_refused():
    conn = Connection()
    conn.become = Become("su", False)
    with pytest.raises(TransportError, match="become method su"):
        check_pipe(conn)
    podman = Podman()
    podman.become = Become("su", False)
    with pytest.raises(TransportError, match="become method su"):
        check_pipe(podman)
    conn.become = Become("sudo", True)
    check_pipe(conn)
