# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The host probe's shell script: what the host can do (TPM2, the systemd-creds version, the
``--version`` of each hypervisor binary the instances use) and whether the credential
directory is the collection's own (credstore.DIRECTORY_STATE_SH).

The host module runs it in the call that carries the tokens, so that a converge that
changes nothing is one round trip; the controller parses and checks the answers
(plugin_utils/_actions/host_probe.py) before anything is written. It holds no secret,
only paths from the configuration, each shell-quoted. Every answer is one line
``TAG<TAB>NAME<TAB>STATUS<TAB>VALUE``. Standard library only: it must not pull the
launcher into the host module's payload.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import shlex

from .credstore import DIRECTORY_STATE_SH, MANIFEST

_PRELUDE = r"""p() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4"; }
if command -v systemd-creds >/dev/null 2>&1; then
  out=$(systemd-creds has-tpm2 2>&1); rc=$?
  p tpm2 - "$rc" "$(printf '%s\n' "$out" | head -n 1)"
  p systemd-creds - found "$(systemd-creds --version 2>&1 | head -n 1)"
else
  p tpm2 - 127 ''
  p systemd-creds - missing ''
fi
"""

_BINARY = """if command -v {b} >/dev/null 2>&1; then p {kind} {b} found "$({b} --version 2>&1 | head -n 1)"; \
else p {kind} {b} missing ''; fi
"""


def script(binaries, directory):
    """The probe's shell script for BINARIES ({binary: hypervisor}) and the credential DIRECTORY."""
    parts = [_PRELUDE]
    for binary, kind in sorted(binaries.items()):
        parts.append(_BINARY.format(b=shlex.quote(binary), kind=shlex.quote(kind)))
    parts.append(DIRECTORY_STATE_SH.format(d=shlex.quote(directory), manifest=shlex.quote(MANIFEST)))
    return "".join(parts)
