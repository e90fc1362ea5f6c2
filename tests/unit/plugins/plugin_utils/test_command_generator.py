from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import signal
import threading
import time

import pytest

from ansible_collections.microvm.credentials.plugins.plugin_utils._generators import command as _command_generator
from ansible_collections.microvm.credentials.plugins.plugin_utils._generators.command import CommandError, run
from ansible_collections.microvm.credentials.plugins.plugin_utils._store.lock import StoreLock

PATH = "microvm_instances.web.credentials.tok.generate"


@pytest.fixture(autouse=True)
def scratch(tmp_path, monkeypatch):
    """Generators make their scratch directory here, so that tests can see it is gone."""
    parent = tmp_path / "scratch"
    parent.mkdir()
    monkeypatch.setattr(_command_generator, "_scratch_parent", lambda: str(parent))
    yield parent
    assert os.listdir(str(parent)) == [], "the temporary directory was left behind"


def test_stdout_is_the_secret():
    assert run(PATH, ["printf", "s3cret\\n"]) == b"s3cret\n"


def test_one_input_on_stdin():
    assert run(PATH, ["sh", "-c", "cat"], inputs={"pw": b"value"}, stdin="pw") == b"value"


def test_inputs_are_private_files_and_values_stay_out_of_the_environment():
    script = 'stat -c "%a" "$in" "$in/a" "$in/b"; cat "$in/a" "$in/b"; env | grep -c -e aaa -e bbb || true'
    assert run(PATH, ["sh", "-c", script], inputs={"a": b"aaa", "b": b"bbb"}) == b"700\n600\n600\naaabbb0\n"


def test_named_outputs_in_out_directory():
    script = 'stat -c "%a" "$out" >&2; printf key > "$out/key"; printf pub > "$out/key.pub"; echo ignored'
    assert run(PATH, ["sh", "-c", script], outputs=["key", "key.pub"]) == {"key": b"key", "key.pub": b"pub"}


def test_argv_is_not_run_by_a_shell():
    assert run(PATH, ["printf", "%s", "$HOME;x"]) == b"$HOME;x"


@pytest.mark.parametrize("argv,outputs,match", [
    (["false"], None, "tok.generate: false exited with status 1"),
    (["printf", ""], None, "printed nothing"),
    (["printf", " \\n"], None, "printed nothing"),
    (["sh", "-c", "true"], ["key"], r"no output file \$out/key"),
    (["sh", "-c", ": > $out/key"], ["key"], r"empty \$out/key"),
    (["/nonexistent/generator"], None, "cannot run /nonexistent/generator"),
])
def test_failures_name_the_credential(argv, outputs, match):
    with pytest.raises(CommandError, match=match) as info:
        run(PATH, argv, outputs=outputs)
    assert str(info.value).startswith(PATH + ": ")


def test_stderr_is_not_in_the_error():
    with pytest.raises(CommandError) as info:
        run(PATH, ["sh", "-c", 'cat "$in/pw" >&2; exit 3'], inputs={"pw": b"CANARY"})
    assert "CANARY" not in str(info.value) and "status 3" in str(info.value)


def test_timeout_kills_the_process_group(tmp_path):
    marker = tmp_path / "survived"
    # The grandchild would write the marker after 2 s if the group were not killed.
    script = '(sleep 2; touch "%s") & sleep 30' % marker
    start = time.monotonic()
    with pytest.raises(CommandError, match="within 1 seconds and was killed"):
        run(PATH, ["sh", "-c", script], timeout=1)
    assert time.monotonic() - start < 10
    time.sleep(2.5)
    assert not marker.exists()


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except IOError:
        return False


def dies(pid):
    """True once PID is gone: SIGKILL is sent, its delivery and the reaping are the kernel's and init's."""
    for dummy in range(100):
        if not alive(pid):
            return True
        time.sleep(0.1)
    return False


def started(path):
    """Shell: wait until the background process wrote its PID to PATH."""
    return 'while [ ! -s "%s" ]; do sleep 0.1; done' % path


def daemon_pid(path):
    for dummy in range(100):  # the daemon writes its PID right after it starts
        if path.exists() and path.read_text().strip():
            return int(path.read_text())
        time.sleep(0.1)
    raise AssertionError("the daemon never started")


def test_timeout_holds_when_a_daemon_keeps_the_output_open(tmp_path):
    """A daemonising child (its own session, out of the group's reach) holding stdout: the run
    ends at the timeout, and the daemon is killed, instead of waiting for it to close the pipe."""
    pidfile = tmp_path / "daemon.pid"
    script = 'setsid sh -c \'echo $$ > "%s"; exec sleep 3600\' & %s; printf partial; exit 0' % (pidfile, started(pidfile))
    outcome = []

    def generate():
        try:
            run(PATH, ["sh", "-c", script], timeout=1)
        except CommandError as exc:
            outcome.append(exc)
    worker = threading.Thread(target=generate, daemon=True)
    worker.start()
    worker.join(120)  # a generous bound only: without the fix it waits for the daemon's hour
    pid = daemon_pid(pidfile)
    try:
        assert not worker.is_alive(), "the run waited for the daemon holding its output"
        assert "did not finish within 1 seconds and was killed" in str(outcome[0])
        assert dies(pid), "the daemon holding the output survived"
    finally:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_the_store_lock_is_released_whatever_the_command_leaves_running(tmp_path):
    """A daemon that closed its output and outlives the generator holds no descriptor of the
    store's lock: once the run is done with the store, another run takes the lock at once."""
    pidfile = tmp_path / "daemon.pid"
    script = 'setsid sh -c \'echo $$ > "%s"; exec sleep 3600\' </dev/null >/dev/null 2>&1 & %s; printf ok' % (pidfile, started(pidfile))
    store = str(tmp_path / "store")
    with StoreLock(store, 0):
        assert run(PATH, ["sh", "-c", script]) == b"ok"
    pid = daemon_pid(pidfile)
    try:
        assert alive(pid)  # out of the group's reach, holding nothing of the run
        StoreLock(store, 0).acquire().release()
    finally:
        os.kill(pid, signal.SIGKILL)


def test_leftovers_in_the_group_are_killed_after_a_normal_exit(tmp_path):
    pidfile = tmp_path / "child.pid"
    script = 'sh -c \'echo $$ > "%s"; exec sleep 3600\' </dev/null >/dev/null 2>&1 & %s; printf ok' % (pidfile, started(pidfile))
    assert run(PATH, ["sh", "-c", script]) == b"ok"
    assert dies(daemon_pid(pidfile))


def test_read_only_leftovers_are_removed():
    script = 'mkdir "$out/ro"; printf x > "$out/ro/f"; chmod 500 "$out/ro" "$out" "$in"; printf ok'
    assert run(PATH, ["sh", "-c", script]) == b"ok"


def test_scratch_prefers_ram(monkeypatch, tmp_path):
    monkeypatch.undo()  # the real _scratch_parent
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert _command_generator._scratch_parent() == str(tmp_path)


def test_an_exception_kills_the_command_and_removes_the_directory(monkeypatch):
    started = []

    def interrupted(self, *args, **kwargs):
        started.append(self)
        monkeypatch.undo()  # the real communicate, for _kill_group
        raise KeyboardInterrupt()
    monkeypatch.setattr(_command_generator.subprocess.Popen, "communicate", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run(PATH, ["sleep", "30"], inputs={"pw": b"x"})
    assert started[0].returncode == -9
