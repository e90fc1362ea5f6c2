"""The host credential store: a key change re-encrypts and restarts, stale temporary files
are swept, and the store's directory is the collection's own (manifest, modes)."""

import json
import re

from harness import instance, recap

CRED_DIR = "/var/lib/microvm-credentials"
MANIFEST = CRED_DIR + "/.microvm-credentials.json"
CRED = CRED_DIR + "/ks/app.token.cred"
STALE = CRED_DIR + "/ks/.x.cred.abcdefgh.tmp"


def group_vars(**top):
    gv = {"microvm_instances": {"ks": instance("ks", {"token": {"name": "app.token", "generate": {"type": "hex"}}}, report_key=True)}}
    gv.update(top)
    return gv


def manifest(host, path=MANIFEST):
    return json.loads(host.sh("cat %s" % path))


def keys(manifest_data):
    """{instance: {name: key it was sealed with}} of a manifest."""
    return dict((inst, dict((name, entry["key"]) for name, entry in names.items())) for inst, names in manifest_data["instances"].items())


def recorded_digests_hold(host, manifest_data, directory=CRED_DIR):
    """Each entry records a token and its file's digest as the file is on the host."""
    for inst, names in manifest_data["instances"].items():
        for name, entry in names.items():
            assert len(entry["token"]) == 64
            assert host.sh("sha256sum %s/%s/%s.cred" % (directory, inst, name)).split()[0] == entry["sha256"]


def test_a_key_change_re_encrypts_and_restarts_the_instance(host):
    host.prepare_disk("ks")
    host.converge(group_vars(microvm_credential_key="auto"))
    first = host.wait_report("ks")
    held = manifest(host)
    assert (held["version"], held["directory_created"], keys(held)) == (2, True, {"ks": {"app.token": "auto", "report.key": "auto"}})
    recorded_digests_hold(host, held)
    assert host.sh("stat -c '%a %U' {0} {0}/ks {1} {2}".format(CRED_DIR, CRED, MANIFEST)).split("\n")[:4] == [
        "700 root", "700 root", "600 root", "600 root"]
    blob, pid = host.sh("sha256sum " + CRED), host.main_pid("ks")

    proc = host.converge(group_vars(microvm_credential_key="host"))
    assert recap(proc.stdout)["changed"] >= 1
    assert re.search(r'"rekeyed": \[\s*"ks/app.token"', proc.stdout), proc.stdout[-3000:]
    assert keys(manifest(host)) == {"ks": {"app.token": "host", "report.key": "host"}}
    recorded_digests_hold(host, manifest(host))
    assert host.sh("sha256sum " + CRED) != blob, "not re-encrypted"
    assert host.main_pid("ks") != pid, "not restarted"
    assert host.wait_report("ks", reports=2) == first, "the guest got another value"
    assert recap(host.converge(group_vars(microvm_credential_key="host")).stdout)["changed"] == 0


def test_a_stale_temporary_file_is_swept_by_the_next_converge(host):
    host.sh("printf junk > {0} && chmod 0644 {0}".format(STALE))
    proc = host.converge(group_vars(microvm_credential_key="host"), "--check")
    assert host.sh("stat -c %a " + STALE).strip() == "644", "check mode removed it"
    assert STALE in proc.stdout
    host.converge(group_vars(microvm_credential_key="host"))
    assert host.sh("test -e {0} && echo present || echo absent".format(STALE)).strip() == "absent"
    assert recap(host.converge(group_vars(microvm_credential_key="host")).stdout)["changed"] == 0


def test_a_new_directory_is_made_and_an_empty_one_adopted_without_chmod(host):
    fresh = "/srv/fresh/nested/creds"
    host.converge(group_vars(microvm_credential_key="host", microvm_credential_directory=fresh))
    assert host.sh("stat -c %a /srv/fresh /srv/fresh/nested {0} {0}/ks".format(fresh)).split() == ["755", "755", "700", "700"]
    assert manifest(host, fresh + "/.microvm-credentials.json")["directory_created"] is True
    # The move restarts the guest: its 3rd boot must report (from the new directory) before the
    # next converge restarts it again, or that boot dies unreported and the count below is off.
    assert host.wait_report("ks", reports=3) == host.wait_report("ks", reports=1)

    adopted = "/srv/adopted"
    host.sh("mkdir -m 0751 %s" % adopted)
    host.converge(group_vars(microvm_credential_key="host", microvm_credential_directory=adopted))
    assert host.sh("stat -c %a " + adopted).strip() == "751", "a directory the collection did not create was chmodded"
    held = manifest(host, adopted + "/.microvm-credentials.json")
    assert (held["version"], held["directory_created"], keys(held)) == (2, False, {"ks": {"app.token": "host", "report.key": "host"}})
    recorded_digests_hold(host, held, adopted)
    assert "%s/ks/app.token.cred" % adopted in host.sh("cat /etc/systemd/system/microvm@ks.service.d/*.conf")
    assert host.wait_report("ks", reports=4) == host.wait_report("ks", reports=1)
    assert recap(host.converge(group_vars(microvm_credential_key="host", microvm_credential_directory=adopted)).stdout)["changed"] == 0
