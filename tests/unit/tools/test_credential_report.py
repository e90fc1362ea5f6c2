"""The guest's credential-report script (tools/guest-overlay), run as the guest runs it: POSIX sh
and coreutils. Its digests must be HMAC-SHA256 under the guest's report key, never a plain sha256."""

import hashlib
import hmac
import os
import re
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SCRIPT = os.path.join(ROOT, "tools", "guest-overlay", "usr", "local", "libexec", "credential-report")
LINE = re.compile(r"^MICROVM-CRED source=system name=(\S+) size=(\d+) hmac-sha256=([0-9a-f]{64})$")
VALUES = {"pw": b"hunter2", "bin": b"\x00\xff\n\x00x", "empty": b"", "long": bytes(range(256)) * 3, "sp ace": b"v"}
SHELLS = [s for s in ("dash", "bash") if shutil.which(s)] or ["sh"]  # dash: the guest's /bin/sh


def report(tmp_path, key, shell="sh"):
    creds = tmp_path / "creds"
    creds.mkdir()
    for name, value in VALUES.items():
        (creds / name).write_bytes(value)
    if key is not None:
        (creds / "report.key").write_bytes(key)
    env = dict(os.environ, CREDENTIAL_REPORT_KEY=str(creds / "report.key"))
    proc = subprocess.run([shell, SCRIPT, "system", str(creds)], env=env, capture_output=True, check=True)
    assert proc.stderr == b""
    return proc.stdout.decode().splitlines()


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("key", [b"k" * 64, b"short", b"\x00\x01\xfe" + b"\xff" * 40, os.urandom(100)], ids=["64", "short", "binary", "long"])
def test_digests_are_hmac_sha256_under_the_report_key(tmp_path, shell, key):
    lines = report(tmp_path, key, shell)
    assert lines[0] == "MICROVM-CRED source=system key=report.key"
    assert lines[-1] == "MICROVM-CRED done source=system count=%d" % len(VALUES)
    seen = dict((m.group(1), (int(m.group(2)), m.group(3))) for m in map(LINE.match, lines[1:-1]))
    expected = dict((name.replace(" ", "?"), (len(v), hmac.new(key, v, hashlib.sha256).hexdigest())) for name, v in VALUES.items())
    assert seen == expected  # the key itself is not listed


def test_no_plain_digest_of_a_value_or_the_key(tmp_path):
    key = b"report key"
    text = "\n".join(report(tmp_path, key))
    for value in list(VALUES.values()) + [key]:
        assert hashlib.sha256(value).hexdigest() not in text
    assert hmac.new(key, key, hashlib.sha256).hexdigest() not in text


def test_without_a_key_it_says_so_and_gives_no_digest(tmp_path):
    lines = report(tmp_path, None)
    assert lines[0].startswith("MICROVM-CRED source=system key=none (no readable ") and "digests skipped" in lines[0]
    assert sorted(lines[1:-1]) == sorted("MICROVM-CRED source=system name=%s size=%d" % (n.replace(" ", "?"), len(v))
                                         for n, v in VALUES.items())
    assert lines[-1] == "MICROVM-CRED done source=system count=%d" % len(VALUES)
