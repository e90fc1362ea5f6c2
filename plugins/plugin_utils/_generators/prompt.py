# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Prompted credentials (``prompt: TEXT``): typed once by the operator, then stored.

Their generator is ``{"type": "prompt", "prompt": TEXT}``; it is written as the
credential's own key ``prompt``, never as ``generate.type``.

The question goes through ansible's display, as ``ansible.builtin.pause`` asks: from a
fork, the main process reads the terminal with echo off, one question at a time. An
answer can also come from the variable ``microvm_prompt_answers`` (a vault-encrypted
vars file given with ``-e @FILE``), for runs without a terminal. Check mode never asks.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible.errors import AnsibleError, AnsiblePromptInterrupt, AnsiblePromptNoninteractive
from ansible.module_utils.common.text.converters import to_bytes
from ansible.utils.display import Display

from ansible_collections.microvm.credentials.plugins.plugin_utils._generators.kind import GenerateError, Kind, text
from ansible_collections.microvm.credentials.plugins.plugin_utils._schema.checks import ConfigError

ANSWERS_VAR = "microvm_prompt_answers"
# Stands for an answer in check mode, which asks nothing and stores nothing.
CHECK_MODE_ANSWER = b"(asked at the next run)"
_PROMPT_RE = re.compile(r"[^\x00-\x1f\x7f-\x9f]{1,200}")


class PromptError(AnsibleError):
    """No answer to a prompt; nothing was stored."""


def check_answers(answers, prompted, play_prompted=None):
    """Return the answers (label: text) of ANSWERS that this host's PROMPTED labels ask for.

    ANSWERS is given to every host (``-e @FILE``): a label that another host of the play
    prompts (PLAY_PROMPTED, all hosts' prompted labels; this host's alone when None) is
    ignored here; a label no host of the play prompts is an error. Trailing newlines are
    stripped, as from an answer typed at the terminal.
    """
    if answers is None:
        return {}
    if not isinstance(answers, dict):
        raise ConfigError(ANSWERS_VAR, "must be a mapping of INSTANCE/CREDENTIAL_ID or shared:NAME to the answer")
    known = set(prompted) | set(play_prompted or ())
    mine = {}
    for label, answer in sorted(answers.items(), key=lambda kv: str(kv[0])):
        if label not in known:
            raise ConfigError("%s[%r]" % (ANSWERS_VAR, label), "is not a prompted credential of any host of the play (prompted: %s)"
                              % (", ".join(sorted(known)) or "none"))
        answer = strip_answer(answer) if isinstance(answer, str) else None
        if not answer:
            raise ConfigError("%s[%r]" % (ANSWERS_VAR, label), "must be a non-empty string")
        if label in prompted:
            mine[label] = answer
    return mine


def strip_answer(answer):
    """An answer without its trailing newlines (CR or LF), wherever it came from: a YAML block
    scalar adds one, and the terminal's Enter is no part of the answer."""
    return answer.rstrip("\r\n")


def _no_terminal(label, path):
    return PromptError("%s: needs an answer typed at a terminal, and this run has none. Run ansible-playbook from a "
                       "terminal, or give the answer once in a vault-encrypted vars file passed with -e @FILE holding "
                       "%s: {%s: ...} (it is then stored in the vault), or use src: FILE instead of prompt"
                       % (path, ANSWERS_VAR, label))


class Asker:
    """Context.ask for one run: ANSWERS by label first, then the terminal (never in CHECK_MODE)."""

    def __init__(self, answers, check_mode, display=None):
        self.answers, self.check_mode = answers, check_mode
        self.display = display or Display()

    def __call__(self, label, path, text):
        if label in self.answers:
            return to_bytes(self.answers[label])
        if self.check_mode:
            return CHECK_MODE_ANSWER
        try:
            answer = self.display.prompt_until("[%s] %s (input is hidden): " % (label, text), private=True)
        except AnsiblePromptNoninteractive:
            raise _no_terminal(label, path)
        except AnsiblePromptInterrupt:
            raise PromptError("%s: the prompt was interrupted; nothing was stored" % path)
        answer = to_bytes(answer).rstrip(b"\r\n")  # the same rule as strip_answer
        if not answer:
            raise PromptError("%s: the answer is empty; nothing was stored" % path)
        return answer


class Prompt(Kind):
    """The value is asked (by _resolve, through Asker), never made here."""

    NAME = "prompt"
    KEYS = frozenset(("type", "prompt"))
    SELECTABLE = False

    def normalize(self, path, spec, cred_id):
        return {"prompt": text(path, spec["prompt"], _PROMPT_RE, "one line of 1 to 200 printable characters")}

    def make(self, spec, deps, path):
        raise GenerateError("%s.prompt: a prompted value is asked, not made" % path)

    def definition(self, spec):
        # Rewording the question asks nothing new.
        return dict((k, v) for k, v in spec.items() if k != "prompt")


KINDS = (Prompt(),)
