# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""microvm_rotate: which stored secrets a run makes anew.

Each entry is a shell-style pattern (Python's fnmatch, case-sensitive: ``*``, ``?``,
``[seq]``, ``[!seq]``; ``*`` also matches ``/``) matched against the labels
``INSTANCE/CREDENTIAL_ID`` and ``shared:NAME``. A string is refused rather than split:
Ansible would split ``web/a,web/b`` at the commas, and ``-e microvm_rotate=web/db``
would silently become a list. A ``src`` credential's value is its file: rotating it
means changing the file, so a pattern that names only such credentials is an error.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch

from ansible_collections.microvm.credentials.plugins.plugin_utils._schema.checks import ConfigError


def check_list(value, var_name):
    """Refuse a string (before Ansible's list option splits it)."""
    if isinstance(value, str):
        raise ConfigError(var_name, "must be a list of patterns, e.g. -e '{\"%s\": [\"web/db-password\"]}', got the string %r"
                          % (var_name, value))


def check_patterns(patterns, labels, src_labels, var_name, play=()):
    """Each of PATTERNS matches a stored secret that is not a src credential (SRC_LABELS) among
    LABELS, this host's, or the labels of the play's other hosts: PLAY, a list of (labels,
    src_labels). One rotation list serves the whole play, so a host with no match just
    rotates nothing; a pattern that matches on no host is a typo."""
    every, every_src = set(labels), set(src_labels)
    for their_labels, their_src in play:
        every.update(their_labels)
        every_src.update(their_src)
    where = "the play's hosts" if play else "this host"
    for pattern in patterns:
        matched = fnmatch.filter(sorted(every), pattern)
        if not matched:
            raise ConfigError(var_name, "%r matches no credential of %s (known: %s)"
                              % (pattern, where, ", ".join(sorted(every)) or "none"))
        if all(label in every_src for label in matched):
            raise ConfigError(var_name, "%r names only src credentials (%s): their value is the src file; "
                                        "change the file to change it" % (pattern, ", ".join(matched)))


def rotated(patterns, label):
    """True if one of PATTERNS names LABEL."""
    return any(fnmatch.fnmatchcase(label, p) for p in patterns)
