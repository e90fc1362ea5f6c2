# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Controller half of microvm.credentials.microvm_credentials_info (see the module for docs).

Reads the vault store (never writes), sends the host HMAC digests under a key drawn
for this run (on stdin, as the credentials module sends its secrets), and joins the
host's answer into one row per credential.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import binascii
import os

from ansible import constants as C
from ansible.errors import AnsibleActionFail, AnsibleError
from ansible.module_utils.common.text.converters import to_native
from ansible.parsing.vault import match_encrypt_secret

from ansible_collections.microvm.credentials.plugins.action.microvm_credentials import ActionModule as CredentialsAction
from ansible_collections.microvm.credentials.plugins.module_utils._host.audit import digest
from ansible_collections.microvm.credentials.plugins.plugin_utils import _audit
from ansible_collections.microvm.credentials.plugins.plugin_utils._schema import authorized_keys as _authorized_keys
from ansible_collections.microvm.credentials.plugins.plugin_utils._schema.authorized_keys import key_pairs
from ansible_collections.microvm.credentials.plugins.plugin_utils._actions.options import INFO, ArgumentError, variable
from ansible_collections.microvm.credentials.plugins.plugin_utils._schema.instances import (
    ConfigError,
    check_credential_directory,
    normalize_instances,
)
from ansible_collections.microvm.credentials.plugins.plugin_utils._generators.options import has_public
from ansible_collections.microvm.credentials.plugins.plugin_utils._store.public import load_public
from ansible_collections.microvm.credentials.plugins.plugin_utils._resolve import is_public
from ansible_collections.microvm.credentials.plugins.plugin_utils._store.location import store_of
from ansible_collections.microvm.credentials.plugins.plugin_utils._actions.transport import TransportError, check_pipe, stdin_capable
from ansible_collections.microvm.credentials.plugins.plugin_utils._store.vault import VaultStore, resolve_store_path

HOST_MODULE = "microvm.credentials.microvm_credentials_info_host"


class ActionModule(CredentialsAction):
    """Inherits the forced stdin transport and the reading of src files."""

    def _fingerprint_key(self):
        secrets = self._loader._vault.secrets
        if not secrets:
            return None
        dummy, secret = match_encrypt_secret(secrets, encrypt_vault_id=C.DEFAULT_VAULT_ENCRYPT_IDENTITY)
        return _audit.fingerprint_key(secret.bytes)

    def _credential(self, instance, cred, creds, store, fp_key, path):
        """(row, value or None) of one configured credential."""
        name = instance["name"]
        if "public_of" in cred:
            parent = creds[cred["public_of"]]
            value = load_public(store.root, name, parent["id"])
            fingerprint = value and _audit.public_fingerprint(parent["generate"]["type"], value)
            return _audit.row(name, cred["id"], cred["name"], "public", _audit.public_times(store.root, name, parent["id"]),
                              fingerprint), value
        if "authorized_keys" in cred:
            public = dict((ref, load_public(store.root, name, ref)) for ref in key_pairs(cred))
            value = None if None in public.values() else _authorized_keys.value(cred, public)
            return _audit.row(name, cred["id"], cred["name"], "authorized_keys", None,
                              value and fp_key and _audit.secret_fingerprint(fp_key, value) or None), value
        if "src" in cred:
            value = self._read_src(cred["src"], "%s.%s" % (path, cred["id"]))
            return _audit.row(name, cred["id"], cred["name"], "src", None, fp_key and _audit.secret_fingerprint(fp_key, value)), value
        spec = cred["generate"]
        value = store.load(name, cred["id"])
        public = load_public(store.root, name, cred["id"]) if has_public(spec) else None
        if public is not None:
            fingerprint = _audit.public_fingerprint(spec["type"], public)
        else:
            fingerprint = value is not None and fp_key and _audit.secret_fingerprint(fp_key, value) or None
        return _audit.row(name, cred["id"], cred["name"], spec["type"], _audit.stored_times(store, name, cred["id"]),
                          fingerprint), value

    def _controller(self, instances, store, hmac_key, var_name):
        """(rows, expected digests for the host) of the configured credentials."""
        fp_key = self._fingerprint_key()
        rows, expected = [], []
        for instance in instances:
            creds = dict((c["id"], c) for c in instance["credentials"])
            for cred in instance["credentials"]:
                row, value = self._credential(instance, cred, creds, store, fp_key, "%s.%s.credentials" % (var_name, instance["name"]))
                if value is None:
                    row["host"] = "not-stored"
                elif not cred["inject"]:
                    row["host"], row["name"] = "not-injected", None
                else:
                    expected.append({"instance": instance["name"], "name": cred["name"], "digest": digest(hmac_key, value)})
                rows.append(row)
        return rows, expected

    def _orphan_rows(self, store, configured):
        rows = []
        for instance, cred_id in _audit.orphans(store.root, configured):
            times = _audit.stored_times(store, instance, cred_id) or _audit.public_times(store.root, instance, cred_id)
            rows.append(dict(_audit.row(instance, cred_id, None, None, times, None), orphaned=True))
        return rows

    def _store(self, args, task_vars):
        """The controller store: the store option, else the one the role uses for this host."""
        if args["store"]:
            return resolve_store_path(args["store"], task_vars.get("inventory_dir") or task_vars.get("playbook_dir"),
                                      variable(args, "store"))
        return store_of(task_vars, self._templar)

    def _host(self, args, instances, expected, hmac_key, task_vars):
        """The host module's answer, given the host's view only."""
        module_args = dict(directory=args["directory"], key=args["key"], _instances=[i["name"] for i in instances],
                           _hmac_key=to_native(binascii.hexlify(hmac_key)), _expected=expected)
        with stdin_capable(self._connection):
            return self._execute_module(module_name=HOST_MODULE, module_args=module_args, task_vars=task_vars)

    def run(self, tmp=None, task_vars=None):
        result = super(CredentialsAction, self).run(tmp, task_vars)  # ActionBase's: the credentials run is not ours
        del tmp
        task_vars = task_vars or {}
        try:
            args = INFO.validate(self._task.args)
            check_pipe(self._connection)
            instances = normalize_instances(args["instances"], variable(args, "instances"))
            check_credential_directory(args["directory"], instances, variable(args, "directory"))
            store = VaultStore(self._store(args, task_vars), self._loader._vault.secrets, variable(args, "store"))
            hmac_key = os.urandom(32)
            rows, expected = self._controller(instances, store, hmac_key, variable(args, "instances"))
        except (ArgumentError, TransportError, ConfigError, AnsibleError) as exc:
            raise AnsibleActionFail(to_native(exc))
        host = self._host(args, instances, expected, hmac_key, task_vars)
        if host.get("failed"):
            result.update(host)
            return result
        configured = dict((i["name"], set(c["id"] for c in i["credentials"] if not is_public(c))) for i in instances)
        rows = _audit.ordered(_audit.join_host(rows, host["credentials"]) + self._orphan_rows(store, configured))
        result.update(
            changed=False,
            credentials=rows,
            units=host["units"],
            directory_state=host["directory_state"],
            orphaned=_audit.orphan_labels(store.root, configured),
            prune=_audit.prune_paths(store.root, configured),
            table=_audit.table(rows),
        )
        return result
