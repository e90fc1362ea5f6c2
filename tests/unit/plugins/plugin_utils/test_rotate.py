from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.microvm.credentials.plugins.plugin_utils._actions.rotate import check_list, check_patterns, rotated
from ansible_collections.microvm.credentials.plugins.plugin_utils._schema.checks import ConfigError

LABELS = ["shared:cluster", "web/api-key", "web/db", "web/tls-cert"]
SRC = ["web/tls-cert"]


@pytest.mark.parametrize("patterns", [["*"], ["web/*"], ["web/db"], ["web/[a]*"], ["web/d?"], ["shared:*"], ["web/*", "web/db"]])
def test_patterns_that_name_a_stored_secret(patterns):
    check_patterns(patterns, LABELS, SRC, "microvm_rotate")


def test_a_pattern_may_match_on_another_host_of_the_play_only():
    other = (["db/password", "db/tls-cert"], ["db/tls-cert"])
    check_patterns(["db/password"], LABELS, SRC, "microvm_rotate", [other])
    with pytest.raises(ConfigError, match=r"^microvm_rotate: 'db/nope' matches no credential of the play's hosts \(known: db/password, "):
        check_patterns(["db/nope"], LABELS, SRC, "microvm_rotate", [other])
    with pytest.raises(ConfigError, match=r"^microvm_rotate: '\*/tls-cert' names only src credentials \(db/tls-cert, web/tls-cert\)"):
        check_patterns(["*/tls-cert"], LABELS, SRC, "microvm_rotate", [other])
    with pytest.raises(ConfigError, match=r"matches no credential of this host"):
        check_patterns(["db/password"], LABELS, SRC, "microvm_rotate")


def test_fnmatch_syntax_and_slashes():
    assert rotated(["web/[a]*"], "web/api-key") and not rotated(["web/[a]*"], "web/db")
    assert rotated(["*"], "web/db") and rotated(["*"], "shared:cluster")
    assert not rotated(["Web/*"], "web/db")  # case-sensitive


@pytest.mark.parametrize("patterns,match", [
    (["web/nope"], r"'web/nope' matches no credential of this host \(known: shared:cluster, web/api-key, web/db, web/tls-cert\)"),
    (["web/tls-cert"], r"'web/tls-cert' names only src credentials \(web/tls-cert\): their value is the src file"),
    (["web/tls*"], r"'web/tls\*' names only src credentials"),
])
def test_bad_patterns_name_the_variable(patterns, match):
    with pytest.raises(ConfigError, match="^microvm_rotate: " + match):
        check_patterns(patterns, LABELS, SRC, "microvm_rotate")


def test_a_string_is_refused_not_split():
    with pytest.raises(ConfigError, match=r"^microvm_rotate: must be a list of patterns, .* got the string 'web/a,web/b'"):
        check_list("web/a,web/b", "microvm_rotate")
    check_list(["web/a"], "microvm_rotate")
    check_list(None, "microvm_rotate")
