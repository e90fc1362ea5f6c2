"""Shared by the molecule scenarios' testinfra verifiers (default, and cloud-hypervisor's verifier directory).

Expected values come from the controller side (the vault store and the inventory),
what the guest saw comes from its serial log on the host: the guest prints each
credential's name, size and HMAC-SHA256 under its own credential report.key, never a
value nor a plain digest.
"""

import base64
import hashlib
import hmac
import os
import re
import subprocess
import time

import pytest
import yaml
from ansible.parsing.vault import VaultLib, VaultSecret

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
FILES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "files")  # the src of credentials
REPORT_RE = re.compile(r"MICROVM-CRED source=(\S+) name=(\S+) size=(\d+) hmac-sha256=([0-9a-f]{64})")
KEY_RE = re.compile(r"MICROVM-CRED source=(\S+) key=(\S+)")
REPORT_KEY = "report.key"  # the guest name of the credential the guest keys its digests with
BOOT_TIMEOUT = int(os.environ.get("MICROVM_BOOT_TIMEOUT", "240"))


def scenario_vars():
    """The running scenario's group_vars (molecule/SCENARIO/inventory/group_vars/all.yml)."""
    path = os.path.join(os.environ.get("MOLECULE_SCENARIO_DIRECTORY", ""), "inventory", "group_vars", "all.yml")
    with open(path) as f:
        return yaml.safe_load(f)


def vault():
    password = subprocess.check_output([os.path.join(ROOT, "tools", "vault-pass.sh")]).strip()
    return VaultLib([("default", VaultSecret(password))])


def store_dir(hostname):
    return os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "credentials", hostname)


def expected_credentials(hostname, instance_name):
    """{guest name: value bytes} for every injected credential, from the controller."""
    spec = scenario_vars()["microvm_instances"][instance_name]
    lib = vault()
    out = {}
    for cred_id, cred in spec["credentials"].items():
        if cred.get("inject", True) is False:
            continue
        if "src" in cred:
            with open(os.path.join(FILES, os.path.basename(cred["src"])), "rb") as f:
                value = f.read()
        else:
            with open(os.path.join(store_dir(hostname), instance_name, cred_id + ".vault"), "rb") as f:
                value = lib.decrypt(f.read())
        out[cred.get("name", cred_id)] = value
    for oem in spec.get("oem_strings", []):
        if oem.startswith("io.systemd.credential:"):
            name, value = oem[len("io.systemd.credential:"):].split("=", 1)
            out[name] = value.encode()
    return out


def all_store_values(hostname):
    lib = vault()
    values = []
    for dirpath, dummy, files in os.walk(store_dir(hostname)):
        for f in files:
            if not f.endswith(".vault"):  # beside them: ID.pub (public) and ID.meta (no value)
                continue
            with open(os.path.join(dirpath, f), "rb") as fh:
                values.append(lib.decrypt(fh.read()))
    return values


def digest(key, value):
    """What the guest reports of VALUE: HMAC-SHA256 under KEY (the value of its report.key)."""
    return hmac.new(key, value, hashlib.sha256).hexdigest()


def plain_digests(value):
    """The plain SHA-256 of VALUE as it could leak: hex, and the 16 hex digits a report could print."""
    hexdigest = hashlib.sha256(value).hexdigest()
    return [hexdigest.encode(), hexdigest[:16].encode()]


def guest_report(host, instance_name, marker="MICROVM-CRED done source=system"):
    """Lines the guest printed on its serial console, once its report is complete."""
    log = "/var/log/microvm/%s/serial.log" % instance_name
    deadline = time.time() + BOOT_TIMEOUT
    text = ""
    while time.time() < deadline:
        text = host.run("cat %s 2>/dev/null" % log).stdout
        if marker in text:
            return text
        time.sleep(2)
    raise AssertionError("no credential report from %s within %ss; serial log tail:\n%s" % (instance_name, BOOT_TIMEOUT, text[-3000:]))


def reported(text, source):
    """{name: (size, hmac)} of the last boot's report lines for SOURCE, keyed by REPORT_KEY."""
    last_boot = text.rsplit("MICROVM-CRED done source=system", 2)
    report = text if len(last_boot) < 3 else last_boot[-2]
    keys = [key for src, key in KEY_RE.findall(report) if src == source]
    assert keys and keys[-1] == REPORT_KEY, "the %s report is not keyed by %s: %s" % (source, REPORT_KEY, keys)
    out = {}
    for src, name, size, sha in REPORT_RE.findall(report):
        if src == source:
            out[name] = (int(size), sha)
    return out


def secret_forms(value):
    """The forms a leaked value could take: raw, base64, and as text."""
    forms = {value, base64.b64encode(value)}
    return [f for f in forms if len(f) >= 8]


@pytest.fixture(scope="module")
def hostname():
    return "microvm-host"
