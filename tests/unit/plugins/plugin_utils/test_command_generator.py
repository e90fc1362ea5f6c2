from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import time

import pytest

from ansible_collections.microvm.credentials.plugins.plugin_utils._generators import command as _command_generator
from ansible_collections.microvm.credentials.plugins.plugin_utils._generators.command import CommandError, run

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
