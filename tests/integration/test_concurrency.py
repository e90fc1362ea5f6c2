"""Two runs at once on one inventory: every secret is generated once, and the host holds what the vault holds.

Without the store lock both runs generated every new secret with different values,
and the store kept one while the host kept the other. The instances do not start
(autostart: false), so no guest boots: only the store and the host credentials matter.
"""

import hashlib
import os
import stat

from harness import instance

CRED_DIR = "/var/lib/microvm-credentials"
SECRETS = 15


def group_vars():
    """Passwords and their sha512_crypt hashes: hashing takes a while, which widens the window
    in which two unlocked runs would both find a secret missing."""
    instances = {}
    for name in ("left", "right"):
        credentials = {}
        for i in range(SECRETS):
            if i % 2:
                credentials["s%02d" % i] = {"generate": {"type": "passlib", "password_of": "s%02d" % (i - 1)}}
            else:
                credentials["s%02d" % i] = {"generate": {"type": "password"}}
        instances[name] = instance(name, credentials, autostart=False)
    return {"microvm_instances": instances}


def host_digests(host):
    """{INSTANCE/ID.vault: sha256} of what `systemd-creds decrypt` gives for every credential on the host."""
    script = ("cd %s && for f in */*.cred; do n=${f#*/}; n=${n%%.cred}; "
              "printf '%%s %%s\\n' \"${f%%.cred}\" \"$(systemd-creds decrypt --name=\"$n\" \"$f\" - | sha256sum | cut -d' ' -f1)\"; "
              "done" % CRED_DIR)
    return dict(("%s.vault" % path, digest) for path, digest in (line.split() for line in host.sh(script).splitlines()))


def test_two_runs_at_once_generate_each_secret_once(host, tmp_path):
    for name in ("left", "right"):
        host.prepare_disk(name)
    host.write_inventory(group_vars())
    logs = [open(os.path.join(str(tmp_path), "run%d.log" % i), "w+") for i in range(2)]
    procs = [host.playbook_popen(None, stdout=log) for log in logs]
    try:
        codes = [proc.wait(timeout=900) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, 9)
    outputs = []
    for log in logs:
        log.seek(0)
        outputs.append(log.read())
        log.close()
    assert codes == [0, 0], "\n\n".join(out[-4000:] for out in outputs)
    # The role lists what it generated: one run generated each secret, the other none.
    for key in ("left/s%02d" % i for i in range(SECRETS)):
        assert sum('"%s"' % key in out for out in outputs) == 1, "%s generated twice or never:\n%s" % (key, "\n\n".join(outputs))

    values = host.vault_values()
    assert len(values) == 2 * SECRETS and all(values.values())
    digests = dict((key, hashlib.sha256(value).hexdigest()) for key, value in values.items())
    assert host_digests(host) == digests, "the host holds values the vault does not"
    lock = os.path.join(os.path.dirname(host.store), "." + os.path.basename(host.store) + ".lock")
    assert stat.S_IMODE(os.stat(lock).st_mode) == 0o600
    assert not os.path.exists(os.path.join(host.store, ".lock"))

    # A third run changes nothing: the two runs left one consistent state.
    proc = host.playbook(None)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert host.vault_values() == values and host_digests(host) == digests
