#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: microvm_credentials_host
short_description: Internal host part of microvm.credentials.microvm_credentials
version_added: 0.2.0
description:
  - Internal. Only the action P(microvm.credentials.microvm_credentials#module) calls this module, with
    its payload on stdin; a task that names it directly fails. Use that action (or the
    C(microvm.credentials.microvm) role).
  - Encrypts each credential in O(_credentials) with C(systemd-creds encrypt) into
    C(DIRECTORY/INSTANCE/NAME.cred), passing values on stdin only.
  - Decides without decrypting anything. A credential whose manifest entry has the same
    O(_credentials[].token) and O(key), and whose file still has the digest recorded when it was
    written, is left alone. For every other one the action must send O(_credentials[].value); when
    a needed value is missing, nothing changes and RV(need) lists them.
  - Only what the manifest C(DIRECTORY/.microvm-credentials.json) lists is rewritten or removed; see
    P(microvm.credentials.microvm_credentials#module).
  - It gets the host's view only, never a controller path or how a secret is generated.
author:
  - microvm.credentials maintainers (!UNKNOWN)
attributes:
  check_mode:
    support: full
    description: Nothing is written on the host; the result says what would change.
  diff_mode:
    support: full
    description: The diff names the credentials that change, never their values.
requirements:
  - systemd-creds (systemd 250 or later).
extends_documentation_fragment:
  - microvm.credentials.host_store
options:
  purge:
    description:
      - Remove stored credentials that are no longer configured, and all credentials of instances
        not in O(_instances).
    type: bool
    default: true
  _probe:
    description:
      - Internal. Run the host probe first (see C(module_utils/_host/probe.py)) for these hypervisor
        binaries (binary to hypervisor), and return its answers in RV(probe).
      - With it nothing is changed on the host, whatever the plan. The controller checks the answers
        first, then calls again when something is to change.
    type: dict
    version_added: 0.2.0
  _credentials:
    description:
      - Internal. The credentials to keep on the host.
      - Only O(_credentials[].value) is secret; instance and credential names stay readable in the
        result (C(changed_instances), C(removed)).
    type: list
    elements: dict
    required: true
    suboptions:
      instance:
        description: Instance name.
        type: str
        required: true
      name:
        description: Credential name in the guest.
        type: str
        required: true
      token:
        description:
          - The controller's keyed digest of what the value is made from (never of the value). A
            credential whose recorded token, key and file digest match is left alone.
        type: str
        required: true
      value:
        description: Base64 of the secret value; sent only for the credentials the host needs.
        type: str
      not_after:
        description: C(systemd-creds encrypt --not-after=), as C(@SECONDS); the host refuses the credential after it.
        type: str
notes:
  - The action runs it with C(no_log) semantics for O(_credentials[].value).
seealso:
  - module: microvm.credentials.microvm_credentials
"""

EXAMPLES = r"""
# Internal: use microvm.credentials.microvm_credentials, which calls this module.
- name: Generate, store and encrypt the microVM credentials of this host
  microvm.credentials.microvm_credentials:
    instances: "{{ microvm_instances }}"
    store: "{{ inventory_dir }}/.microvm-credentials/{{ inventory_hostname }}"
  no_log: true
"""

RETURN = r"""
changed_instances:
  description: Instances whose credentials changed on the host; restart these.
  returned: always
  type: list
  elements: str
  sample: [web]
removed:
  description: Stale credentials removed from the host, as C(INSTANCE/NAME).
  returned: always
  type: list
  elements: str
rekeyed:
  description: Credentials re-encrypted on the host because O(key) changed, as C(INSTANCE/NAME).
  returned: always
  type: list
  elements: str
swept:
  description: Temporary files of interrupted runs removed from the host (in check mode, to be removed).
  returned: always
  type: list
  elements: str
need:
  description:
    - Credentials, as C(INSTANCE/NAME), that must be (re)written and whose value was not sent. When it is
      not empty, nothing was changed (in check mode, what would be written).
  returned: always
  type: list
  elements: str
tampered:
  description: Credentials, as C(INSTANCE/NAME), whose file was deleted or changed on the host since it was written.
  returned: always
  type: list
  elements: str
probe:
  description:
    - The host probe's answers (lines C(TAG<TAB>NAME<TAB>STATUS<TAB>VALUE)), when O(_probe) is given. When the
      probe finds no C(systemd-creds) or a credential directory the collection does not own, only this is returned.
  returned: when O(_probe) is given
  type: str
  version_added: 0.2.0
"""

import base64
import fcntl
import hashlib
import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native
from ansible_collections.microvm.credentials.plugins.module_utils._host.probe import script as probe_script
from ansible_collections.microvm.credentials.plugins.module_utils._host.credstore import (
    HOST_STORE_SPEC,
    MANIFEST,
    VARIABLE,
    CredStoreError,
    atomic_write,
    cred_path,
    diff_lines,
    directory_state,
    encrypt_argv,
    file_sha256,
    foreign_targets,
    load_manifest,
    make_directory,
    manifest_after,
    manifest_before,
    new_manifest,
    ownership_error,
    plan,
    remove_owned,
    save_manifest,
    stale_temp_files,
)


def lock(directory, check_mode):
    """Serialise runs on one host: the sweep must never see another run's temporary file.

    The descriptor stays open, and the lock held, until the module process exits.
    """
    fcntl.flock(os.open(directory, os.O_RDONLY), fcntl.LOCK_SH if check_mode else fcntl.LOCK_EX)


def open_store(module, directory):
    """The manifest of DIRECTORY, locked if it exists. Fails before any change on a directory the collection does not own."""
    state, example = directory_state(directory)
    error = ownership_error(directory, state, example)
    if error:
        module.fail_json(msg=error)
    if state == "absent":
        return new_manifest(directory_created=True)
    lock(directory, module.check_mode)
    if state == "empty":
        return new_manifest(directory_created=False)
    try:
        return load_manifest(directory)
    except CredStoreError as exc:
        module.fail_json(msg=to_native(exc))


def probe(module, directory):
    """The probe's answers (text) for the binaries in _probe and the credential DIRECTORY."""
    rc, out, err = module.run_command(["/bin/sh", "-c", probe_script(module.params["_probe"], directory)])
    if rc != 0:
        module.fail_json(msg="cannot probe the host (exit %s): %s" % (rc, to_native(err).strip()))
    return out


def needs_chmod(directory, manifest):
    """Only a directory the collection created has its mode put back; others are never chmodded."""
    return manifest["directory_created"] and os.path.isdir(directory) and os.stat(directory).st_mode & 0o7777 != 0o700


def seal(module, systemd_creds, directory, instance, name, value, key, not_after):
    """Encrypt VALUE into the credential's file; return the new file's SHA-256."""
    rc, blob, err = module.run_command(encrypt_argv(systemd_creds, name, key, not_after), data=value, binary_data=True, encoding=None)
    if rc != 0:
        module.fail_json(msg="systemd-creds encrypt failed for %s/%s: %s" % (instance, name, to_native(err).strip()))
    atomic_write(cred_path(directory, instance, name), blob)
    return hashlib.sha256(blob).hexdigest()


def apply(module, systemd_creds, directory, manifest, changes, values, tokens, key, not_after):
    """Write and remove, with the manifest listing every file before it exists."""
    if not os.path.isdir(directory):
        make_directory(directory)
        lock(directory, False)
    elif needs_chmod(directory, manifest):
        os.chmod(directory, 0o700)
    if changes["write"]:
        save_manifest(directory, manifest_before(manifest, changes))
    for instance in sorted(set(i for i, dummy in changes["write"])):
        path = os.path.join(directory, instance)
        if not os.path.isdir(path):
            os.mkdir(path, 0o700)
        os.chmod(path, 0o700)
    written = {}
    for item in changes["write"]:
        written[item] = seal(module, systemd_creds, directory, item[0], item[1], values[item], key, not_after.get(item))
    removed_dirs = remove_owned(directory, changes, tokens)
    save_manifest(directory, manifest_after(manifest, changes, key, removed_dirs, dict((i, tokens[i[0]][i[1]]) for i in written), written))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            HOST_STORE_SPEC,
            purge=dict(type="bool", default=True),
            # Only the values are secret: a no_log on the whole list would also mask the
            # instance and credential names wherever they occur in the result, so that
            # changed_instances came back as VALUE_SPECIFIED_IN_NO_LOG_PARAMETER and
            # rotated instances were never restarted.
            _credentials=dict(type="list", elements="dict", required=True, options=dict(
                instance=dict(type="str", required=True),
                name=dict(type="str", required=True),
                token=dict(type="str", required=True, no_log=False),
                value=dict(type="str", no_log=True),
                not_after=dict(type="str"),
            )),
            _probe=dict(type="dict"),
        ),
        supports_check_mode=True,
    )
    directory, key = module.params["credential_directory"], module.params["key"]
    probing = module.params["_probe"] is not None
    answers = probe(module, directory) if probing else None
    systemd_creds = module.get_bin_path("systemd-creds", required=not probing)
    if probing and (systemd_creds is None or ownership_error(directory, *directory_state(directory))):
        # The controller names the problem from the answers, before anything changes.
        module.exit_json(changed=False, probe=answers)

    desired = dict((name, {}) for name in module.params["_instances"])  # instance: {name: token}
    values = {}
    for cred in module.params["_credentials"]:
        desired.setdefault(cred["instance"], {})[cred["name"]] = cred["token"]
        if cred["value"] is not None:
            values[(cred["instance"], cred["name"])] = base64.b64decode(cred["value"])

    manifest = open_store(module, directory)

    owned = manifest["instances"]
    if not module.params["purge"]:
        # Keep what is no longer configured: only configured credentials are looked at.
        owned = dict((i, dict((n, k) for n, k in owned.get(i, {}).items() if n in desired[i])) for i in desired)
    changes = plan(desired, owned, key, lambda instance, name: file_sha256(cred_path(directory, instance, name)))
    foreign = foreign_targets(directory, manifest["instances"], changes["write"])
    if foreign:
        module.fail_json(msg="%s: %s was not created by this collection (it is not in the manifest %s); move it away"
                         % (VARIABLE, foreign[0], MANIFEST))
    swept = stale_temp_files(directory, manifest["instances"]) if os.path.isdir(directory) else []
    changed = bool(changes["write"] or changes["remove"] or swept or needs_chmod(directory, manifest))
    result = dict(
        changed=changed,
        changed_instances=sorted(set(i for i, dummy in changes["write"] + changes["remove"])),
        removed=["%s/%s" % c for c in changes["remove"]],
        rekeyed=["%s/%s" % c for c in changes["rekey"]],
        tampered=["%s/%s" % c for c in changes["tampered"]],
        swept=swept,
        need=["%s/%s" % c for c in changes["write"] if c not in values],
    )
    if module._diff:
        result["diff"] = diff_lines(desired, changes, key)
    if probing:
        result["probe"] = answers
    if module.check_mode or not changed or result["need"] or probing:
        module.exit_json(**result)

    for path in swept:
        os.unlink(path)
    not_after = dict(((c["instance"], c["name"]), c["not_after"]) for c in module.params["_credentials"])
    apply(module, systemd_creds, directory, manifest, changes, values, desired, key, not_after)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
