"""Bad input fails with a clear error naming the variable, and the host is left as it was.

A converged host (one running microVM) is the baseline; every case runs the real
playbook against it and compares a fingerprint of all the host state the
collection manages (files, modes, hashes, unit states) and the controller store.
"""

import copy
import json
import os
import subprocess

import pytest
from harness import ROOT, instance

BASE = {"microvm_instances": {"base": instance("base", {"app-token": {"name": "app.token", "generate": {"type": "hex"}}}, report_key=True)}}


def with_bad(spec=None, **top):
    group_vars = copy.deepcopy(BASE)
    if spec is not None:
        group_vars["microvm_instances"]["bad"] = spec
    group_vars.update(top)
    return group_vars


def bad(credentials=None, **extra):
    return instance("bad", credentials if credentials is not None else {"c": {"generate": {"type": "hex"}}}, **extra)


def cred(**spec):
    return bad({"c": spec})


CASES = [
    # credential names
    ("name-slash", cred(name="a/b", generate={"type": "hex"}), "microvm_instances.bad.credentials.c.name"),
    ("name-colon", cred(name="a:b", generate={"type": "hex"}), "microvm_instances.bad.credentials.c.name"),
    ("name-space", cred(name="a b", generate={"type": "hex"}), "microvm_instances.bad.credentials.c.name"),
    ("name-dot", cred(name=".hidden", generate={"type": "hex"}), "microvm_instances.bad.credentials.c.name"),
    ("name-too-long", cred(name="n" * 256, generate={"type": "hex"}), "microvm_instances.bad.credentials.c.name"),
    ("name-percent", cred(name="a%i", generate={"type": "hex"}), "microvm_instances.bad.credentials.c.name"),
    ("id-bad", bad({"a b": {"generate": {"type": "hex"}}}), "microvm_instances.bad.credentials.a b"),
    # duplicates and collisions
    ("duplicate-guest-name", bad({"a": {"name": "x", "generate": {"type": "hex"}}, "b": {"name": "x", "generate": {"type": "hex"}}}),
     "microvm_instances.bad.credentials.b.name"),
    ("static-collides", bad(oem_strings=["io.systemd.credential:c=static"]), "microvm_instances.bad.oem_strings[0]"),
    ("static-duplicate", bad(oem_strings=["io.systemd.credential:s=1", "io.systemd.credential:s=2"]), "microvm_instances.bad.oem_strings"),
    ("static-empty", bad(oem_strings=[""]), "microvm_instances.bad.oem_strings[0]"),
    ("static-nul", bad(oem_strings=["a\x00b"]), "microvm_instances.bad.oem_strings[0]"),
    # encodings and sizes (checked with the real values, before anything changes)
    ("text-not-utf8", cred(src="BINFILE", binary=False), "microvm_instances.bad.credentials"),
    ("too-large", cred(src="BIGFILE"), "microvm_instances.bad.credentials"),
    ("too-many", bad(dict(("c%03d" % i, {"generate": {"type": "hex", "bytes": 1}}) for i in range(256))), "microvm_instances.bad.credentials"),
    ("bytes-zero", cred(generate={"type": "hex", "bytes": 0}), "microvm_instances.bad.credentials.c.generate.bytes"),
    ("password-short", cred(generate={"type": "password", "length": 4}), "microvm_instances.bad.credentials.c.generate.length"),
    ("bytes-as-text", cred(generate={"type": "bytes"}, binary=False), "microvm_instances.bad.credentials.c.binary"),
    # generators and sources
    ("generate-unknown", cred(generate={"type": "guid"}), "microvm_instances.bad.credentials.c.generate.type"),
    ("src-and-generate", cred(src="x", generate={"type": "hex"}), "microvm_instances.bad.credentials.c"),
    ("src-missing", cred(src="/nonexistent/secret.pem"), "microvm_instances.bad.credentials.c.src"),
    ("passlib-no-password", cred(generate={"type": "passlib"}), "microvm_instances.bad.credentials.c.generate.password_of"),
    ("passlib-bad-scheme", bad({"pw": {"inject": False, "generate": {"type": "password"}},
                                "c": {"generate": {"type": "passlib", "scheme": "nosuchscheme", "password_of": "pw"}}}),
     "microvm_instances.bad.credentials.c.generate"),
    # key pairs, command generators and their inputs
    ("rsa-2048", cred(generate={"type": "ssh", "key_type": "rsa", "bits": 2048}), "microvm_instances.bad.credentials.c.generate.bits"),
    ("input-unknown", cred(generate={"type": "command", "argv": ["cat"], "inputs": ["nope"]}),
     "microvm_instances.bad.credentials.c.generate.inputs[0]"),
    ("input-cycle", bad({"a": {"generate": {"type": "command", "argv": ["cat"], "inputs": ["b"]}},
                         "b": {"generate": {"type": "command", "argv": ["cat"], "inputs": ["a"]}}}),
     "microvm_instances.bad.credentials.a.generate.inputs: dependency cycle a -> b -> a"),
    ("command-fails", cred(generate={"type": "command", "argv": ["false"]}), "microvm_instances.bad.credentials.c.generate: false exited"),
    ("command-silent", cred(generate={"type": "command", "argv": ["printf", ""]}), "microvm_instances.bad.credentials.c.generate: printf printed nothing"),
    ("command-timeout", cred(generate={"type": "command", "argv": ["sleep", "30"], "timeout": 1}),
     "microvm_instances.bad.credentials.c.generate: sleep did not finish"),
    # a daemon in its own session holding stdout: without the fix the run outlives the harness's timeout
    ("command-daemon-timeout", cred(generate={"type": "command", "argv": ["sh", "-c", "setsid sleep 1000 & printf x"], "timeout": 2}),
     "microvm_instances.bad.credentials.c.generate: sh did not finish within 2 seconds"),
    ("tls-ca-not-a-ca", bad({"pw": {"generate": {"type": "password"}}, "c": {"generate": {"type": "tls", "ca": "pw"}}}),
     "microvm_instances.bad.credentials.c.generate.ca"),
    # wrong types and values
    ("hypervisor-unknown", bad(hypervisor="firecracker"), "microvm_instances.bad.hypervisor"),
    ("machine-microvm", bad(machine="microvm"), "microvm_instances.bad.machine"),
    ("vcpu-string", bad(vcpu="two"), "microvm_instances.bad.vcpu"),
    ("mem-negative", bad(mem=-1), "microvm_instances.bad.mem"),
    ("guest-systemd-too-old", bad(guest_systemd=251), "microvm_instances.bad.guest_systemd: systemd 251 does not import"),
    ("guest-systemd-string", bad(guest_systemd="257"), "microvm_instances.bad.guest_systemd"),
    ("kernel-relative", bad(kernel="vmlinuz"), "microvm_instances.bad.kernel"),
    ("disks-not-list", bad(disks={"path": "/x"}), "microvm_instances.bad.disks"),
    ("mac-bad", bad(interfaces=[{"tap": "tap0", "mac": "xx"}]), "microvm_instances.bad.interfaces[0].mac"),
    ("unknown-key", bad(colour="blue"), "microvm_instances.bad"),
    ("instance-name", None, "microvm_instances.Bad"),
    ("instances-not-mapping", None, "microvm_instances"),
    ("rotate-unknown", None, "microvm_rotate"),
    ("rotate-string", None, "microvm_rotate: must be a list of patterns"),
    ("rotate-src", cred(src="files/bad.pem"), "microvm_rotate: 'bad/c' names only src credentials"),
    # a trailing newline or another control character in a name or value
    ("instance-name-newline", None, "microvm_instances['bad\\\\n']"),
    ("id-newline", bad({"c\n": {"generate": {"type": "hex"}}}), "microvm_instances.bad.credentials['c\\\\n']"),
    ("name-newline", cred(name="c\n", generate={"type": "hex"}), "microvm_instances.bad.credentials.c.name"),
    ("name-tab", cred(name="a\tb", generate={"type": "hex"}), "microvm_instances.bad.credentials.c.name"),
    ("tap-newline", bad(interfaces=[{"tap": "tap0\n"}]), "microvm_instances.bad.interfaces[0].tap"),
    ("mac-newline", bad(interfaces=[{"tap": "tap0", "mac": "52:54:00:12:34:56\n"}]), "microvm_instances.bad.interfaces[0].mac"),
    ("cmdline-tab-newline", bad(cmdline="console=ttyS0\t\n"), "microvm_instances.bad.cmdline"),
    ("kernel-newline", bad(kernel="/srv/microvm/images/vmlinuz\n"), "microvm_instances.bad.kernel"),
    ("static-name-newline", bad(oem_strings=["io.systemd.credential:s\n=1"]), "microvm_instances.bad.oem_strings[0]"),
    # lengths the host's path chain allows
    ("name-237", cred(name="n" * 237, generate={"type": "hex"}), "microvm_instances.bad.credentials.c.name"),
    ("instance-name-24", None, "microvm_instances." + "w" * 24),
    ("directory-path-too-long", bad({"c": {"name": "n" * 236, "generate": {"type": "hex"}}}), "microvm_credential_directory"),
    ("static-too-large", bad(oem_strings=["x" * 70000]), "microvm_instances.bad.oem_strings[0]"),
    # host options and the controller store
    ("directory-relative", None, "microvm_credential_directory"),
    ("directory-trailing-newline", None, "microvm_credential_directory"),
    ("store-unusable", None, "microvm_credentials_store: cannot open the lock file /dev/null/.store.lock"),
    ("store-in-inventory", None, "microvm_credentials_store: INVENTORY/secrets/HOST is inside INVENTORY, which Ansible reads as inventory"),
    ("store-in-group-vars", None, "microvm_credentials_store: INVENTORY/group_vars/all/HOST is inside INVENTORY"),
    ("shared-store-in-inventory", cred(scope="shared", generate={"type": "hex"}),
     "microvm_credentials_shared_store: INVENTORY/shared is inside INVENTORY, which Ansible reads as inventory"),
    ("shared-store-is-host-store", cred(scope="shared", generate={"type": "hex"}),
     "microvm_credentials_shared_store: STORE and microvm_credentials_store (STORE) are the same directory or one is inside the other"),
    ("shared-store-holds-host-store", cred(scope="shared", generate={"type": "hex"}),
     "microvm_credentials_shared_store: INVENTORY/.microvm-credentials and microvm_credentials_store (STORE) are the same"),
    # passlib: crypt hashes only, and bcrypt's 72 bytes
    ("passlib-plaintext", bad({"pw": {"inject": False, "generate": {"type": "password"}},
                               "c": {"generate": {"type": "passlib", "scheme": "plaintext", "password_of": "pw"}}}),
     "microvm_instances.bad.credentials.c.generate.scheme"),
    ("passlib-md5-crypt", bad({"pw": {"inject": False, "generate": {"type": "password"}},
                               "c": {"generate": {"type": "passlib", "scheme": "md5_crypt", "password_of": "pw"}}}),
     "microvm_instances.bad.credentials.c.generate.scheme"),
    ("bcrypt-long-password", bad({"pw": {"inject": False, "generate": {"type": "password", "length": 80}},
                                  "c": {"generate": {"type": "passlib", "scheme": "bcrypt", "password_of": "pw"}}}),
     "microvm_instances.bad.credentials.pw.generate.length"),
    ("bcrypt-long-src-password", bad({"pw": {"inject": False, "src": "LONGPASSWORD"},
                                      "c": {"generate": {"type": "passlib", "scheme": "bcrypt", "password_of": "pw"}}}),
     "microvm_instances.bad.credentials.c.generate.password_of"),
    # host credential store: a directory the collection does not own (FOREIGN below), a key the host cannot use
    ("directory-foreign", None, "microvm_credential_directory: /opt holds files this collection did not create (for example /opt/otherapp/keep.cred)"),
    ("key-tpm2-without-tpm", bad(), "microvm_credential_key: 'tpm2' needs a TPM2 the host can use"),
    ("disk-shared", bad(disks=[{"path": "/var/lib/microvm/base/root.qcow2", "format": "qcow2", "interface": "nvme"}]),
     "microvm_instances.bad.disks[0]"),
    # a share directory inside another instance's (TOP_VARS below): each belongs to one instance's user
    ("share-overlap", None, "microvm_instances.bad2.shares[0].source: /srv/bad/sub overlaps /srv/bad"),
    # authorized_keys: public key lines and ssh key pairs of the instance only
    ("authorized-keys-bad-line", cred(name="ssh.authorized_keys.root", authorized_keys=["ssh-ed25519 AAAAC3NzaC1yc2E= x"]),
     "microvm_instances.bad.credentials.c.authorized_keys[0]: is not a valid ssh-ed25519 public key"),
    ("authorized-keys-not-ssh", bad({"wg": {"generate": {"type": "wireguard"}}, "c": {"authorized_keys": ["wg"]}}),
     "microvm_instances.bad.credentials.c.authorized_keys[0]: must be an OpenSSH public key line"),
    # a hypervisor version with the SMBIOS type 11 path= overrun (AFFECTED_QEMU below)
    ("qemu-affected", bad(binary="/usr/local/bin/qemu-affected"), "microvm_instances.bad.hypervisor: /usr/local/bin/qemu-affected"),
    # shared, prompted, aged and renewed secrets
    ("scope-unknown", cred(scope="cluster", generate={"type": "hex"}), "microvm_instances.bad.credentials.c.scope: must be one of instance, shared"),
    ("shared-src", cred(scope="shared", src="x"), "microvm_instances.bad.credentials.c.scope: shared needs generate or prompt"),
    ("shared-from-instance-input", bad({"pw": {"inject": False, "generate": {"type": "password"}},
                                        "c": {"scope": "shared", "generate": {"type": "passlib", "password_of": "pw"}}}),
     "microvm_instances.bad.credentials.c.scope: a shared credential is made from shared credentials only"),
    ("prompt-no-terminal", cred(prompt="Token"), "microvm_instances.bad.credentials.c.prompt: needs an answer typed at a terminal"),
    ("prompt-shared-no-terminal", cred(scope="shared", prompt="Token"),
     "microvm_instances.bad.credentials.c.prompt: needs an answer typed at a terminal"),
    ("prompt-answers-unknown", None, "microvm_prompt_answers['base/nope']: is not a prompted credential of any host of the play"),
    ("prompt-answer-newline-only", cred(prompt="Token"), "microvm_prompt_answers['bad/c']: must be a non-empty string"),
    ("max-age-bad", cred(max_age="90", generate={"type": "hex"}), "microvm_instances.bad.credentials.c.max_age: must be a duration"),
    ("max-age-huge", cred(max_age="999999999w", generate={"type": "hex"}),
     "microvm_instances.bad.credentials.c.max_age: must be at most 100 years"),
    ("renew-before-huge", cred(renew_before="999999999w", generate={"type": "tls"}),
     "microvm_instances.bad.credentials.c.renew_before: must be at most 100 years"),
    ("not-after-huge", cred(max_age="1d", not_after="999999999w", generate={"type": "hex"}),
     "microvm_instances.bad.credentials.c.not_after: must be at most 100 years"),
    ("renew-before-too-long", cred(renew_before="400d", generate={"type": "tls", "days": 365}),
     "microvm_instances.bad.credentials.c.renew_before: must be shorter than"),
    # store backends (the sops store's own cases: test_sops_store_bad_input below)
    ("backend-unknown", None, "microvm_credentials_backend: unknown backend 'pass'"),
    ("vault-id-unknown", None, "microvm_credentials_vault_id: no vault secret with id 'nope' was given"),
    ("sops-missing", None, "microvm_credentials_backend: sops needs the sops binary, and /nonexistent/sops is not found"),
    # the audit (playbooks/audit.yml, see AUDIT_RUNS)
    ("audit-key-unknown", None, "microvm_credential_key: value of key must be one of: auto, host, tpm2, host+tpm2, got: tpm"),
    ("audit-prune-not-bool", None, "microvm_prune_store: must be true or false"),
    # a task of the user's own (DIRECT_RUNS)
    ("directory-and-alias", None, "microvm_credential_directory: both credential_directory and its alias directory are set"),
    ("instances-unset-no-variable", None, "instances: not given, and the host has no microvm_instances"),
]
# Planted on the baseline host; the snapshot covers /opt, so its mode and this file must stay.
FOREIGN = "/opt/otherapp/keep.cred"
AFFECTED_QEMU = "QEMU emulator version 7.2.15 (Debian 1:7.2+dfsg-7+deb12u13)"

# Cases that are not (only) a bad instance: the variables they set or replace.
TOP_VARS = {
    "rotate-unknown": {"microvm_rotate": ["base/nope"]},
    "rotate-string": {"microvm_rotate": "base/app-token"},
    "rotate-src": {"microvm_rotate": ["bad/c"]},
    "directory-relative": {"microvm_credential_directory": "var/lib/microvm-credentials"},
    "directory-trailing-newline": {"microvm_credential_directory": "/var/lib/microvm-credentials\n"},
    "directory-path-too-long": {"microvm_credential_directory": "/var/lib/" + "/".join(["d" * 250] * 16)},
    "store-unusable": {"microvm_credentials_store": "/dev/null/store"},
    "store-in-inventory": {"microvm_credentials_store": "secrets/{{ inventory_hostname }}"},
    "store-in-group-vars": {"microvm_credentials_store": "group_vars/all/{{ inventory_hostname }}"},
    "shared-store-in-inventory": {"microvm_credentials_shared_store": "shared"},
    "shared-store-is-host-store": {"microvm_credentials_shared_store": ".microvm-credentials/{{ inventory_hostname }}"},
    "shared-store-holds-host-store": {"microvm_credentials_shared_store": ".microvm-credentials"},
    "directory-foreign": {"microvm_credential_directory": os.path.dirname(os.path.dirname(FOREIGN))},
    "key-tpm2-without-tpm": {"microvm_credential_key": "tpm2"},
    "prompt-answers-unknown": {"microvm_prompt_answers": {"base/nope": "x"}},
    "prompt-answer-newline-only": {"microvm_prompt_answers": {"bad/c": "\n"}},
    "audit-key-unknown": {"microvm_credential_key": "tpm"},
    "backend-unknown": {"microvm_credentials_backend": "pass"},
    "vault-id-unknown": {"microvm_credentials_vault_id": "nope"},
    "sops-missing": {"microvm_credentials_backend": "sops", "microvm_credentials_sops_binary": "/nonexistent/sops",
                     "microvm_credentials_sops_recipients": ["age1qs7augahqxnyjasjj2yd4ahutzc8hrkuz0k0h4hr8n2jzt8tgueqgqalxh"]},
    # base left the inventory: its store entries are orphans a prune would delete.
    "audit-prune-not-bool": {"microvm_instances": {}},
    "share-overlap": {"microvm_instances": dict(BASE["microvm_instances"], bad=bad(shares=[{"tag": "d", "source": "/srv/bad"}]),
                                                bad2=instance("bad2", {}, shares=[{"tag": "d", "source": "/srv/bad/sub"}]))},
}
# Cases that run the audit instead of site.yml, with these extra arguments.
AUDIT_RUNS = {
    "audit-key-unknown": [],
    "audit-prune-not-bool": ["-e", "microvm_prune_store=maybe"],
}
# Cases that run a playbook of their own, calling the action as a user's task would.
DIRECT_RUNS = {
    "directory-and-alias": """
- hosts: all
  become: true
  gather_facts: false
  tasks:
    - microvm.credentials.microvm_credentials:
        instances: "{{ microvm_instances }}"
        store: "{{ inventory_dir }}/.microvm-credentials/{{ inventory_hostname }}"
        credential_directory: /var/lib/microvm-credentials
        directory: /srv/elsewhere
""",
    # Without instances the action reads microvm_instances, which this case's inventory lacks.
    "instances-unset-no-variable": """
- hosts: all
  become: true
  gather_facts: false
  tasks:
    - microvm.credentials.microvm_credentials:
        store: "{{ inventory_dir }}/.microvm-credentials/{{ inventory_hostname }}"
""",
}
BAD_INSTANCE_NAMES = {"instance-name": "Bad", "instance-name-newline": "bad\n", "instance-name-24": "w" * 24}


def materialise(case_id, spec, tmp_path):
    """Fill in the controller files some cases need."""
    group_vars = with_bad(spec, **copy.deepcopy(TOP_VARS.get(case_id, {})))
    if case_id in BAD_INSTANCE_NAMES:
        group_vars["microvm_instances"][BAD_INSTANCE_NAMES[case_id]] = bad()
    if case_id == "instances-not-mapping":
        group_vars["microvm_instances"] = ["base"]
    if case_id == "instances-unset-no-variable":  # the action has neither its option nor the variable
        del group_vars["microvm_instances"]
    if spec and spec.get("credentials", {}).get("pw", {}).get("src") == "LONGPASSWORD":
        path = os.path.join(str(tmp_path), "long-password")
        with open(path, "wb") as f:
            f.write(b"p" * 73)
        spec["credentials"]["pw"]["src"] = path
    if spec and "c" in spec.get("credentials", {}) and spec["credentials"]["c"].get("src") in ("BINFILE", "BIGFILE"):
        path = os.path.join(str(tmp_path), spec["credentials"]["c"]["src"].lower())
        with open(path, "wb") as f:
            f.write(b"\xff\xfe\x00binary" if spec["credentials"]["c"]["src"] == "BINFILE" else b"x" * 70000)
        spec["credentials"]["c"]["src"] = path
    return group_vars


@pytest.fixture(scope="module")
def baseline(host):
    host.prepare_disk("base")
    host.sh("mkdir -p {0} && echo keep > {1}".format(os.path.dirname(FOREIGN), FOREIGN))
    host.sh("printf '#!/bin/sh\\necho \"%s\"\\n' > /usr/local/bin/qemu-affected && chmod 0755 /usr/local/bin/qemu-affected"
            % AFFECTED_QEMU)
    host.converge(BASE)
    host.wait_report("base")
    snapshot = host.snapshot()
    # The fingerprint must see what a bad run could change, or the checks below prove nothing.
    assert "/var/lib/microvm-credentials/base/app.token.cred 600 root" in snapshot
    assert "microvm@base.service active running" in snapshot
    assert "/etc/microvm-credentials/instances/base.json" in snapshot
    assert FOREIGN + " 644 root" in snapshot and "\n/opt 755 root" in snapshot
    return host


@pytest.fixture(scope="module")
def untouched(baseline):
    """The host and the store as the baseline left them, taken once: every case must leave them
    so, and a change made by one case fails it and every case after it."""
    return baseline.snapshot(), baseline.vault_values()


@pytest.mark.parametrize("case_id,spec,variable", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_rejected_before_any_change(baseline, untouched, tmp_path, case_id, spec, variable):
    host = baseline
    group_vars = materialise(case_id, copy.deepcopy(spec), tmp_path)
    shared_store = os.path.join(host.inventory, ".microvm-credentials-shared")
    before_host, before_store = untouched
    if case_id in AUDIT_RUNS:
        proc = host.playbook(group_vars, *AUDIT_RUNS[case_id], playbook="playbooks/audit.yml")
    elif case_id in DIRECT_RUNS:
        (tmp_path / "direct.yml").write_text(DIRECT_RUNS[case_id])
        proc = host.playbook(group_vars, playbook=str(tmp_path / "direct.yml"))
    else:
        proc = host.playbook(group_vars)
    assert proc.returncode != 0, proc.stdout[-3000:]
    variable = variable.replace("INVENTORY", host.inventory).replace("STORE", host.store).replace("HOST", host.name)
    assert variable in proc.stdout, "error does not name %s:\n%s" % (variable, proc.stdout[-3000:])
    assert host.snapshot() == before_host, "the host changed"
    assert host.vault_values() == before_store, "the controller store changed"
    assert not os.path.exists(shared_store) or os.listdir(shared_store) == [], "the shared store changed"
    for left in ("secrets", "shared", "group_vars/all"):
        assert not os.path.exists(os.path.join(host.inventory, left)), "a store appeared inside the inventory"


def test_undecryptable_store_fails_loudly_and_never_regenerates(baseline):
    host = baseline
    path = os.path.join(host.store, "base", "app-token.vault")
    with open(path, "rb") as f:
        original = f.read()
    corrupt = original.replace(original.splitlines()[-1], b"00" * 32)
    with open(path, "wb") as f:
        f.write(corrupt)
    try:
        before = host.snapshot()
        proc = host.playbook(BASE)
        assert proc.returncode != 0
        assert "cannot decrypt secret store file %s" % path in proc.stdout
        with open(path, "rb") as f:
            assert f.read() == corrupt, "the store file was replaced"
        assert host.snapshot() == before
    finally:
        with open(path, "wb") as f:
            f.write(original)


def test_wrong_vault_password_fails_loudly(baseline, tmp_path):
    host = baseline
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-password")
    before, store = host.snapshot(), host.vault_values()
    proc = host.playbook(BASE, env={"ANSIBLE_VAULT_PASSWORD_FILE": str(wrong)})
    assert proc.returncode != 0 and "cannot decrypt secret store file" in proc.stdout
    assert host.snapshot() == before and host.vault_values() == store


def test_relative_store_is_resolved_against_the_inventory(baseline):
    """Not the current directory: the playbook runs from the checkout, the store stays the inventory's."""
    host = baseline
    before_host, before_store = host.snapshot(), host.vault_values()
    proc = host.playbook(with_bad(microvm_credentials_store=".microvm-credentials/" + host.name))
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert not os.path.exists(os.path.join(ROOT, ".microvm-credentials")), "a store appeared in the current directory"
    assert host.snapshot() == before_host and host.vault_values() == before_store


SOPS = os.path.join(ROOT, ".venv", "bin", "sops")
SOPS_CASES = [
    ("sops-no-key", "microvm_credentials_sops_recipients: no age key of yours opens"),
    ("sops-other-recipients", "microvm_credentials_rekey=true"),
    ("sops-corrupt", "is corrupt or was altered"),
    ("sops-no-matching-rule", "has creation_rules but none matches"),
]


def _age_key(tmp, name):
    path = os.path.join(str(tmp), name + ".key")
    subprocess.run(["age-keygen", "-o", path], check=True, capture_output=True)
    return path, subprocess.run(["age-keygen", "-y", path], check=True, capture_output=True, text=True).stdout.strip()


def _sops_file(path, recipient, value):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    out = subprocess.run([SOPS if os.path.exists(SOPS) else "sops", "--config", os.devnull, "encrypt", "--age", recipient,
                          "--input-type", "binary", "--output-type", "binary", "--filename-override", path, "/dev/stdin"],
                         input=value, check=True, capture_output=True).stdout
    with open(path, "wb") as f:
        f.write(out)


def _files(root):
    """The store's files but its lock and token key (dot files, which vault_values ignores too)."""
    return dict((os.path.relpath(os.path.join(d, f), root), open(os.path.join(d, f), "rb").read())
                for d, dummy, fs in os.walk(root) for f in fs if not f.startswith("."))


@pytest.mark.parametrize("case_id,message", SOPS_CASES, ids=[c[0] for c in SOPS_CASES])
def test_sops_store_bad_input(baseline, tmp_path, case_id, message):
    """A sops store (the operator holds key a): each case fails naming the variable or the file, and
    neither the host nor any store changes."""
    host = baseline
    key_a, pub_a = _age_key(tmp_path, "a")
    key_b, pub_b = _age_key(tmp_path, "b")
    root = os.path.join(str(tmp_path), "inventory-store")
    store = os.path.join(root, "h")
    path = os.path.join(store, "base", "app-token.sops")
    _sops_file(path, pub_b if case_id == "sops-no-key" else pub_a, b"stored-token")
    recipients = [pub_b] if case_id == "sops-no-key" else [pub_a]
    if case_id == "sops-other-recipients":
        recipients = [pub_a, pub_b]
    if case_id == "sops-corrupt":
        with open(path) as f:
            doc = json.load(f)
        head, rest = doc["data"].split("data:", 1)
        doc["data"] = head + "data:" + ("A" if rest[0] != "A" else "B") + rest[1:]
        with open(path, "w") as f:
            json.dump(doc, f)
    if case_id == "sops-no-matching-rule":
        with open(os.path.join(root, ".sops.yaml"), "w") as f:
            f.write("creation_rules:\n  - path_regex: ^elsewhere/\n    age: %s\n" % pub_a)
    group_vars = with_bad(None, microvm_credentials_backend="sops", microvm_credentials_store=store,
                          microvm_credentials_sops_recipients=recipients)
    before_host, before_vault, before_sops = host.snapshot(), host.vault_values(), _files(root)
    proc = host.playbook(group_vars, env={"SOPS_AGE_KEY_FILE": key_a, "HOME": str(tmp_path)})
    assert proc.returncode != 0, proc.stdout[-3000:]
    assert message in proc.stdout, "error does not say %r:\n%s" % (message, proc.stdout[-3000:])
    assert path in proc.stdout or case_id == "sops-no-matching-rule" and os.path.join(root, ".sops.yaml") in proc.stdout
    assert host.snapshot() == before_host, "the host changed"
    assert host.vault_values() == before_vault and _files(root) == before_sops, "a store changed"
