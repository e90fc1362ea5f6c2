# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""How a module whose arguments carry secrets reaches the host: on stdin, never as a file.

Ansible normally copies a module (its arguments inside, in an embedded zip) to
``~/.ansible/tmp`` on the host, and to a local temporary file on the controller
first, unless pipelining is on. For the secret-carrying module the action plugin
always pipelines instead, whatever the configuration and ANSIBLE_KEEP_REMOTE_FILES
say, so the payload exists only in the pipe and in the module's memory.

- Connections with pipelining (ssh, paramiko, local, containers.podman 1.20 and
  later, ...) are given the payload on stdin.
- Older containers.podman connections run ``podman exec`` without ``-i`` and so drop
  stdin; they get an exec that keeps stdin open for the duration of the call.
- Any other connection is refused before anything is generated or written.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import shlex

PODMAN_TRANSPORT = "containers.podman.podman"


class TransportError(Exception):
    """The connection cannot hand the module its payload on stdin."""


def _become_pipelines(connection):
    become = getattr(connection, "become", None)
    return become is None or bool(getattr(become, "pipelining", False))


def check_pipe(connection):
    """Raise TransportError unless CONNECTION can pass a module payload on stdin."""
    if not _become_pipelines(connection):
        raise TransportError(
            "become method %s cannot pass data on stdin (Ansible cannot pipeline through it); use sudo, or connect "
            "as root" % connection.become.name)
    if not connection.has_pipelining and getattr(connection, "transport", None) != PODMAN_TRANSPORT:
        raise TransportError(
            "connection %s cannot pass data on stdin, and this module's arguments carry secrets that must not be "
            "written to the host's disk; use ssh, paramiko, local or containers.podman.podman"
            % getattr(connection, "transport", type(connection).__name__))


def _podman_exec_with_stdin(connection):
    """exec_command for containers.podman before 1.20 (no pipelining) that forwards IN_DATA
    (podman exec -i), with that plugin's own helpers."""

    def exec_command(cmd, in_data=None, sudoable=False):
        if not connection._connected:
            connection._connect()
        args = ["exec", "-i"]
        if connection.user:
            args += ["--user", connection.user]
        return connection._podman(args, shlex.split(cmd), in_data)

    return exec_command


@contextlib.contextmanager
def stdin_capable(connection):
    """Within this block, CONNECTION.exec_command passes its in_data to the remote command."""
    check_pipe(connection)
    if connection.has_pipelining:
        yield connection
        return
    connection.exec_command = _podman_exec_with_stdin(connection)
    try:
        yield connection
    finally:
        del connection.exec_command  # back to the class's method
