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
import re
import shutil
import signal
import subprocess
import tempfile

from ansible_collections.microvm.credentials.plugins.plugin_utils._generators.kind import GenerateError, Kind, text
from ansible_collections.microvm.credentials.plugins.plugin_utils._schema.checks import ConfigError, _int, _list

DEFAULT_TIMEOUT = 60
_FILE_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")


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


# -- the kind: its options ----------------------------------------------------------

def _argv(path, argv):
    argv = _list(path, argv)
    if not argv:
        raise ConfigError(path, "is required: the program and its arguments, as a list (no shell)")
    for i, arg in enumerate(argv):
        if not isinstance(arg, str) or "\x00" in arg:
            raise ConfigError("%s[%d]" % (path, i), "must be a string without NUL, got %r" % (arg,))
    return argv


def _output(path, value):
    return None if value is None else text(path, value, _FILE_RE, "a file name of 1 to 128 characters [A-Za-z0-9._-]")


def _inputs(path, inputs):
    inputs = _list(path, inputs)
    for i, dep in enumerate(inputs):
        if not isinstance(dep, str) or dep in inputs[:i]:
            raise ConfigError("%s[%d]" % (path, i), "must be a credential id, each once, got %r" % (dep,))
    return inputs


class Command(Kind):
    NAME = "command"
    KEYS = frozenset(("type", "argv", "inputs", "stdin", "output", "public_output", "timeout"))
    PUBLIC_HALF = "command with public_output"

    def normalize(self, path, spec, cred_id):
        out = {"argv": _argv(path + ".argv", spec.get("argv")), "inputs": _inputs(path + ".inputs", spec.get("inputs")),
               "stdin": spec.get("stdin"), "output": _output(path + ".output", spec.get("output")),
               "public_output": _output(path + ".public_output", spec.get("public_output")),
               "timeout": _int(path + ".timeout", spec.get("timeout", DEFAULT_TIMEOUT), 1, 3600)}
        if out["public_output"] is not None and out["output"] is None:
            raise ConfigError(path + ".public_output", "needs output: the secret then comes from $out/OUTPUT too")
        if out["public_output"] is not None and out["public_output"] == out["output"]:
            raise ConfigError(path + ".public_output", "must differ from output")
        if out["stdin"] is not None and out["stdin"] not in out["inputs"]:
            raise ConfigError(path + ".stdin", "must be one of inputs, got %r" % (out["stdin"],))
        return out

    def make(self, spec, deps, path):
        outputs = [name for name in (spec["output"], spec["public_output"]) if name is not None]
        try:
            made = run(path + ".generate", spec["argv"], dict((i, deps[i][0]) for i in spec["inputs"]),
                       spec["stdin"], outputs or None, spec["timeout"])
        except CommandError as exc:
            raise GenerateError(str(exc))
        if not outputs:
            return made, None
        return made[spec["output"]], made.get(spec["public_output"])

    def current(self, spec, secret, public, deps, path):
        # A lost public half cannot be derived from the secret: make both anew.
        return None if spec["public_output"] and public is None else (secret, public)

    def has_public(self, spec):
        return bool(spec["public_output"])

    def inputs(self, spec):
        return list(spec["inputs"])

    def check_references(self, path, cred_id, spec, creds):
        for i, dep in enumerate(spec["inputs"]):
            if not isinstance(dep, str) or dep not in creds or dep == cred_id:
                raise ConfigError("%s.%s.generate.inputs[%d]" % (path, cred_id, i),
                                  "must name another credential of this instance, got %r" % (dep,))

    def named(self, spec, shared_name_of):
        return dict(spec, inputs=[shared_name_of(dep) for dep in spec["inputs"]],
                    stdin=None if spec["stdin"] is None else shared_name_of(spec["stdin"]))


KINDS = (Command(),)
