from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible.errors import AnsiblePromptInterrupt, AnsiblePromptNoninteractive
from ansible.module_utils.common.text.converters import to_bytes

from ansible_collections.microvm.credentials.plugins.plugin_utils._generators.prompt import CHECK_MODE_ANSWER, Asker, PromptError, check_answers
from ansible_collections.microvm.credentials.plugins.plugin_utils._schema.checks import ConfigError

PATH = "microvm_instances.web.credentials.tok.prompt"


class FakeDisplay:
    def __init__(self, answer=None, error=None):
        self.answer, self.error, self.asked = answer, error, []

    def prompt_until(self, msg, private=False):
        self.asked.append((msg, private))
        if self.error:
            raise self.error("no")
        return self.answer


def test_asks_with_hidden_input():
    display = FakeDisplay(b"s3cret\n")
    assert Asker({}, False, display)("web/tok", PATH, "Token") == b"s3cret"
    assert display.asked == [("[web/tok] Token (input is hidden): ", True)]


def test_answers_from_the_variable_come_first_and_check_mode_never_asks():
    display = FakeDisplay(b"typed")
    assert Asker({"web/tok": "given"}, False, display)("web/tok", PATH, "Token") == b"given"
    assert Asker({}, True, display)("web/tok", PATH, "Token") == CHECK_MODE_ANSWER
    assert display.asked == []


def test_no_terminal_names_the_credential_and_the_ways_to_supply_it():
    with pytest.raises(PromptError) as err:
        Asker({}, False, FakeDisplay(error=AnsiblePromptNoninteractive))("web/tok", PATH, "Token")
    message = str(err.value)
    assert message.startswith(PATH + ": needs an answer typed at a terminal")
    assert "microvm_prompt_answers: {web/tok: ...}" in message and "src: FILE" in message


@pytest.mark.parametrize("display,match", [(FakeDisplay(error=AnsiblePromptInterrupt), "interrupted"), (FakeDisplay(b"\n"), "empty")])
def test_no_answer_stores_nothing(display, match):
    with pytest.raises(PromptError, match="^%s: .*%s" % (PATH, match)):
        Asker({}, False, display)("web/tok", PATH, "Token")


def test_check_answers():
    assert check_answers(None, ["web/tok"]) == {}
    assert check_answers({"web/tok": "x"}, ["web/tok"]) == {"web/tok": "x"}
    with pytest.raises(ConfigError, match=r"^microvm_prompt_answers: must be a mapping"):
        check_answers(["x"], [])
    with pytest.raises(ConfigError, match=r"^microvm_prompt_answers\['web/x'\]: is not a prompted credential of any host of the play \(prompted: web/tok\)"):
        check_answers({"web/x": "y"}, ["web/tok"])
    with pytest.raises(ConfigError, match=r"^microvm_prompt_answers\['web/tok'\]: must be a non-empty string"):
        check_answers({"web/tok": ""}, ["web/tok"])
    with pytest.raises(ConfigError, match=r"^microvm_prompt_answers\['web/tok'\]: must be a non-empty string"):
        check_answers({"web/tok": "\n"}, ["web/tok"])


def test_answers_for_other_hosts_of_the_play_are_ignored_here():
    answers = {"web/tok": "a", "db/pw": "b", "shared:join": "c"}
    assert check_answers(answers, ["web/tok", "shared:join"], ["web/tok", "db/pw", "shared:join"]) == {"web/tok": "a", "shared:join": "c"}
    assert check_answers(answers, [], ["web/tok", "db/pw", "shared:join"]) == {}
    with pytest.raises(ConfigError, match=r"^microvm_prompt_answers\['db/typo'\]: is not a prompted credential of any host of the play "
                                          r"\(prompted: db/pw, web/tok\)"):
        check_answers({"db/typo": "x"}, [], ["web/tok", "db/pw"])


@pytest.mark.parametrize("given", ["s3cret\n", "s3cret\r\n", "s3cret\n\n", "s3cret"])
def test_a_variable_answer_loses_its_trailing_newline_as_a_typed_one_does(given):
    assert check_answers({"web/tok": given}, ["web/tok"]) == {"web/tok": "s3cret"}
    assert Asker({}, False, FakeDisplay(to_bytes(given)))("web/tok", PATH, "Token") == b"s3cret"
