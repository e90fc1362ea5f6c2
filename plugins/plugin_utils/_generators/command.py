# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The ``command`` generator: a program run on the controller makes the secret(s).

Modelled on clan's vars generators. The program gets an argv list (no shell) and
two directories in its environment, ``$in`` and ``$out``, inside a private 0700
temporary directory: ``$in/NAME`` (0600) holds the value of each declared input,
and the program writes each declared output to ``$out/NAME``. With no declared
outputs its stdout is the secret. One input may also arrive on stdin.

Values never go into argv or the environment. The program's stderr is discarded:
it may echo secret values, and error messages end up in logs.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import signal
import subprocess
import tempfile

DEFAULT_TIMEOUT = 60


class CommandError(ValueError):
    """The command failed; the message names the credential (its variable path)."""


def _scratch_parent():
    """A RAM-backed directory when there is one, so inputs and outputs never touch a disk."""
    for candidate in (os.environ.get("XDG_RUNTIME_DIR"), "/dev/shm"):
        if candidate and os.path.isdir(candidate) and os.access(candidate, os.W_OK | os.X_OK):
            return candidate
    return None


def _write_inputs(directory, inputs):
    for name, value in inputs.items():
        fd = os.open(os.path.join(directory, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(value)


def _remove(directory):
    """Remove DIRECTORY even where the command made it or its subdirectories read-only."""
    os.chmod(directory, 0o700)
    for root, dirs, dummy in os.walk(directory):
        for name in dirs:
            if not os.path.islink(os.path.join(root, name)):  # chmod would follow a link out of the tree
                os.chmod(os.path.join(root, name), 0o700)
    shutil.rmtree(directory)


def _pipe_holders(pipe):
    """PIDs of the processes outside this session that hold the pipe PIPE (a file object):
    what a command left running in a session of its own (a daemon's setsid), out of reach
    of its process group. Linux only (/proc); elsewhere none are found."""
    try:
        target = "pipe:[%d]" % os.fstat(pipe.fileno()).st_ino
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    except (OSError, ValueError):
        return []
    own_session, holders = os.getsid(0), []
    for pid in pids:
        try:
            fds = os.listdir("/proc/%d/fd" % pid)
            if os.getsid(pid) == own_session:
                continue  # this process and its other children: never the command's
        except OSError:
            continue  # gone, or another user's
        for fd in fds:
            try:
                if os.readlink("/proc/%d/fd/%s" % (pid, fd)) == target:
                    holders.append(pid)
                    break
            except OSError:
                pass
    return holders


def _kill(pid, kill=os.kill):
    try:
        kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _kill_group(proc):
    """Kill the command's process group and whatever else still holds its output, and stop
    reading: a descendant that left the group may hold the pipe open for ever."""
    _kill(proc.pid, os.killpg)
    if proc.stdout is not None and not proc.stdout.closed:
        for pid in _pipe_holders(proc.stdout):
            _kill(pid)
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            try:
                stream.close()
            except OSError:
                pass
    proc.wait()  # the command itself: killed, or it has exited already


def _execute(path, argv, env, stdin, timeout):
    """Run ARGV in its own session and process group; return its stdout.

    At the timeout the group is killed, with any process that still holds the output
    pipe; what the command leaves behind in its group after a normal exit is killed too
    (it must do nothing but write its outputs).
    """
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, close_fds=True,
                                start_new_session=True)
    except OSError as exc:
        raise CommandError("%s: cannot run %s: %s" % (path, argv[0], exc.strerror))
    try:
        stdout, dummy = proc.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise CommandError("%s: %s did not finish within %d seconds and was killed (with every process it started "
                           "that still held its output)" % (path, argv[0], timeout))
    except BaseException:
        _kill_group(proc)
        raise
    _kill(proc.pid, os.killpg)
    if proc.returncode != 0:
        raise CommandError("%s: %s exited with status %d (its stderr is not shown: it may hold secrets; "
                           "run the command by hand to see it)" % (path, argv[0], proc.returncode))
    return stdout


def _read_output(path, directory, name):
    try:
        with open(os.path.join(directory, name), "rb") as f:
            value = f.read()
    except (IOError, OSError):
        raise CommandError("%s: the command wrote no output file $out/%s" % (path, name))
    if not value.strip():
        raise CommandError("%s: the command wrote an empty $out/%s" % (path, name))
    return value


def run(path, argv, inputs=None, stdin=None, outputs=None, timeout=DEFAULT_TIMEOUT):
    """Run the command generator of the credential at variable path PATH.

    INPUTS maps input names to their values (bytes); STDIN names the one of them
    that also goes on the program's stdin. OUTPUTS is the list of output names, or
    None for stdout. Returns the stdout bytes, or {output name: bytes}.
    """
    inputs = inputs or {}
    scratch = tempfile.mkdtemp(prefix="microvm-generator.", dir=_scratch_parent())
    try:
        in_dir, out_dir = os.path.join(scratch, "in"), os.path.join(scratch, "out")
        os.mkdir(in_dir, 0o700)
        os.mkdir(out_dir, 0o700)
        _write_inputs(in_dir, inputs)
        env = dict(os.environ, **{"in": in_dir, "out": out_dir})
        stdout = _execute(path, list(argv), env, inputs[stdin] if stdin is not None else None, timeout)
        if not outputs:
            if not stdout.strip():
                raise CommandError("%s: %s printed nothing on stdout" % (path, argv[0]))
            return stdout
        return dict((name, _read_output(path, out_dir, name)) for name in outputs)
    finally:
        _remove(scratch)
