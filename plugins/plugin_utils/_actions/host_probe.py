# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What the host can do, before anything is written: the probe's answers (TPM2, the
systemd-creds version, the ``--version`` of each hypervisor binary the instances use,
whether the credential directory is the collection's own), parsed and checked.

The script itself (module_utils/_host/probe.py) runs on the host: in the host module's
call with the tokens, or on its own (build_command) when the controller store is about
to be written first. Every answer is one line ``TAG<TAB>NAME<TAB>STATUS<TAB>VALUE``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import shlex

from ansible_collections.microvm.credentials.plugins.module_utils._launcher.hypervisors import HYPERVISORS, binary_of
from ansible_collections.microvm.credentials.plugins.module_utils._host.credstore import KEYS, TPM2_KEYS, ownership_error
from ansible_collections.microvm.credentials.plugins.module_utils._host.probe import script


def hypervisor_binaries(instances):
    """{binary: hypervisor} of the normalised INSTANCES."""
    return dict((binary_of(i), i["hypervisor"]) for i in instances)


def build_command(instances, directory):
    """The probe as one shell command, for the normalised INSTANCES and the credential DIRECTORY."""
    # A single word after sh -c: Ansible appends to the command (`&& sleep 0`, become wrappers).
    return "/bin/sh -c " + shlex.quote(script(hypervisor_binaries(instances), directory))


def parse(output):
    """The probe's answers as a dict.

    tpm2: {rc, answer (first line of has-tpm2), usable}; systemd_creds: first line of
    --version or None; hypervisors: {binary: {hypervisor, version (None: missing)}};
    directory: {path, state (absent, managed, empty, foreign, not-a-directory), example}.
    """
    facts = {"tpm2": {"rc": None, "answer": "", "usable": False}, "systemd_creds": None, "hypervisors": {},
             "directory": None}
    for line in output.splitlines():
        fields = line.split("\t", 3)
        if len(fields) != 4:
            continue
        tag, name, status, value = fields
        if tag == "tpm2":
            rc = int(status) if status.isdigit() else None
            facts["tpm2"] = {"rc": rc, "answer": value, "usable": rc == 0}
        elif tag == "systemd-creds":
            facts["systemd_creds"] = value if status == "found" else None
        elif tag in HYPERVISORS:
            facts["hypervisors"][name] = {"hypervisor": tag, "version": value if status == "found" else None}
        elif tag == "directory":
            facts["directory"] = {"path": name, "state": status, "example": value or None}
    return facts


def check(facts, key):
    """The error that stops the run before anything is generated or written, or None."""
    if key not in KEYS:
        return "microvm_credential_key: %r is not one of %s" % (key, ", ".join(KEYS))
    if facts["systemd_creds"] is None:
        return "microvm_credential_key: systemd-creds (systemd 250 or later) is not installed on the host"
    tpm2 = facts["tpm2"]
    if key in TPM2_KEYS and not tpm2["usable"]:
        return ("microvm_credential_key: %r needs a TPM2 the host can use; `systemd-creds has-tpm2` answered %r (exit %s). "
                "Use host or auto" % (key, tpm2["answer"], tpm2["rc"]))
    directory = facts["directory"]
    if directory is None:
        return "microvm_credential_directory: the host probe did not report on the directory"
    return ownership_error(directory["path"], directory["state"], directory["example"])


def check_hypervisors(facts, instances, var_name="microvm_instances"):
    """The error for an instance whose hypervisor the host has in a version that would
    mishandle OEM strings, or None. A binary not installed yet passes: the role installs
    packages after the credentials, and the launcher checks the version again at start."""
    for instance in instances:
        version = facts["hypervisors"].get(binary_of(instance), {}).get("version")
        problem = version and HYPERVISORS[instance["hypervisor"]].version_problem(version)
        if problem:
            return "%s.%s.hypervisor: %s on the host: %s" % (var_name, instance["name"], binary_of(instance), problem)
    return None


def missing_hypervisors(facts):
    """The hypervisors (sorted) of which a binary the instances use is not installed: the
    role installs their packages, and only theirs."""
    return sorted(set(h["hypervisor"] for h in facts["hypervisors"].values() if h["version"] is None))
