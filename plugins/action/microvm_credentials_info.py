# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Controller half of microvm.credentials.microvm_credentials_info (see the module for docs).

Reads the store (never writes) and sends the host, per credential, the token a converge
would send (never a value or a digest of one); the host compares it with its manifest
without decrypting anything. Joins the host's answer into one row per credential.
Fingerprints of secrets need their values: the audit decrypts them, a converge does not.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib

from ansible import constants as C
from ansible.errors import AnsibleActionFail, AnsibleError
from ansible.module_utils.common.text.converters import to_native
from ansible.parsing.vault import match_encrypt_secret
from ansible.utils.display import Display

from ansible_collections.microvm.credentials.plugins.plugin_utils import _audit
from ansible_collections.microvm.credentials.plugins.plugin_utils._schema import authorized_keys as _authorized_keys
from ansible_collections.microvm.credentials.plugins.plugin_utils._schema.authorized_keys import key_pairs
from ansible_collections.microvm.credentials.plugins.plugin_utils._actions.options import INFO, ArgumentError, instances_arg, variable
from ansible_collections.microvm.credentials.plugins.plugin_utils._schema.instances import (
    ConfigError,
    check_credential_directory,
    normalize_instances,
)
from ansible_collections.microvm.credentials.plugins.plugin_utils._generators.options import has_public
from ansible_collections.microvm.credentials.plugins.plugin_utils._actions.backend_options import shared_by_name, shared_consumers
from ansible_collections.microvm.credentials.plugins.plugin_utils._actions.base import CredentialActionBase
from ansible_collections.microvm.credentials.plugins.plugin_utils._store import recipients as _recipients
from ansible_collections.microvm.credentials.plugins.plugin_utils._resolve import host_token, not_after_of, systemd_time
from ansible_collections.microvm.credentials.plugins.plugin_utils._store.location import (
    SHARED_PREFIX,
    SHARED_STORE_VAR,
    is_public,
    shared_store_of,
    slot_of,
    store_of,
    uses_shared,
)
from ansible_collections.microvm.credentials.plugins.plugin_utils._actions.transport import TransportError, check_pipe, stdin_capable
from ansible_collections.microvm.credentials.plugins.plugin_utils._store.store import Store, resolve_store_path

HOST_MODULE = "microvm.credentials.microvm_credentials_info_host"
display = Display()


class ActionModule(CredentialActionBase):

    def _fingerprint_key(self):
        secrets = self._loader._vault.secrets
        if not secrets:
            return None
        dummy, secret = match_encrypt_secret(secrets, encrypt_vault_id=C.DEFAULT_VAULT_ENCRYPT_IDENTITY)
        return _audit.fingerprint_key(secret.bytes)

    def _credential(self, instance, cred, creds, stores, fp_key, path):
        """(row, value or None, source digest or None) of one configured credential."""
        name = instance["name"]
        if "public_of" in cred:
            parent = slot_of(stores[0], stores[1], name, creds[cred["public_of"]])
            value = parent.load_public()
            fingerprint = value and _audit.public_fingerprint(creds[cred["public_of"]]["generate"]["type"], value)
            times = _audit.public_times(parent.store.root, parent.directory, parent.name)
            return (_audit.row(name, cred["id"], cred["name"], "public", times, fingerprint), value,
                    value and hashlib.sha256(value).hexdigest())
        if "authorized_keys" in cred:
            halves = dict((ref, slot_of(stores[0], stores[1], name, creds[ref]).load_public()) for ref in key_pairs(cred))
            value = None if None in halves.values() else _authorized_keys.value(cred, halves)
            fingerprint = value and fp_key and _audit.secret_fingerprint(fp_key, value) or None
            return (_audit.row(name, cred["id"], cred["name"], "authorized_keys", None, fingerprint), value,
                    value and hashlib.sha256(value).hexdigest())
        if "src" in cred:
            src = self._read_src(cred["src"], "%s.%s" % (path, cred["id"]))
            value = src.get()
            return (_audit.row(name, cred["id"], cred["name"], "src", None, fp_key and _audit.secret_fingerprint(fp_key, value)),
                    value, src.source())
        spec, slot = cred["generate"], slot_of(stores[0], stores[1], name, cred)
        value = slot.load()
        public = slot.load_public() if has_public(spec) else None
        if public is not None:
            fingerprint = _audit.public_fingerprint(spec["type"], public)
        else:
            fingerprint = value is not None and fp_key and _audit.secret_fingerprint(fp_key, value) or None
        return (_audit.row(name, cred["id"], cred["name"], spec["type"], _audit.stored_times(slot.store, slot.directory, slot.name),
                           fingerprint), value, slot.token())

    def _controller(self, instances, stores, token_key, var_name, report_key=None):
        """(rows, expected tokens for the host) of the configured credentials."""
        fp_key = self._fingerprint_key()
        rows, expected = [], []
        for instance in instances:
            creds = dict((c["id"], c) for c in instance["credentials"])
            mine, injected = [], []
            for cred in instance["credentials"]:
                row, value, source = self._credential(instance, cred, creds, stores, fp_key, "%s.%s.credentials" % (var_name, instance["name"]))
                if value is None:
                    row["host"] = "not-stored"
                elif not cred["inject"]:
                    row["host"], row["name"] = "not-injected", None
                else:
                    meta = None
                    if cred.get("not_after") is not None:
                        slot = slot_of(stores[0], stores[1], instance["name"], cred)
                        meta = slot.load_meta()
                    not_after = systemd_time(not_after_of(cred, meta))
                    expected.append({"instance": instance["name"], "name": cred["name"], "token": host_token(token_key, source, not_after)})
                mine.append(row)
                injected.append(value if cred["inject"] else None)
            _audit.set_report_digests(mine, injected, report_key)
            rows.extend(mine)
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

    def _host(self, args, instances, expected, task_vars):
        """The host module's answer, given the host's view only."""
        module_args = dict(credential_directory=args["credential_directory"], key=args["key"], _instances=[i["name"] for i in instances],
                           _expected=expected)
        with stdin_capable(self._connection):
            return self._execute_module(module_name=HOST_MODULE, module_args=module_args, task_vars=task_vars)

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        task_vars = task_vars or {}
        try:
            args = INFO.validate(self._task.args)
            args["instances"] = instances_arg(args, task_vars, self._templar)
            check_pipe(self._connection)
            instances = normalize_instances(args["instances"], variable(args, "instances"))
            check_credential_directory(args["credential_directory"], instances, variable(args, "credential_directory"))
            store = Store(self._store(args, task_vars), self._backend(args, variable(args, "store")), variable(args, "store"), writable=False)
            shared = None
            if uses_shared(instances):
                shared_path = shared_store_of(task_vars, self._templar)
                by_name = None
                if args["backend"] == "sops":
                    by_name = shared_by_name(shared_consumers(task_vars.get("hostvars") or {}, self._templar.template),
                                             args["sops_admins"])
                shared = Store(shared_path, self._backend(args, SHARED_STORE_VAR, by_name), SHARED_STORE_VAR, writable=False)
            stale = _recipients.stale([slot_of(store, shared, i["name"], c) for i in instances for c in i["credentials"]
                                       if "generate" in c and "public_of" not in c])
            rows, expected = self._controller(instances, (store, shared), store.token_key(), variable(args, "instances"),
                                              args["report_key"])
        except (ArgumentError, TransportError, ConfigError, AnsibleError) as exc:
            raise AnsibleActionFail(to_native(exc))
        host = self._host(args, instances, expected, task_vars)
        if host.get("failed"):
            result.update(host)
            return result
        configured = dict((i["name"], set(c["id"] for c in i["credentials"] if not is_public(c))) for i in instances)
        rows = _audit.ordered(_audit.join_host(rows, host["credentials"]) + self._orphan_rows(store, configured))
        orphaned, prune = _audit.orphan_labels(store.root, configured), _audit.prune_paths(store.root, configured)
        shared_root, claimed = self._shared_claims(task_vars)
        if claimed is not None:
            orphaned += [SHARED_PREFIX + name for name in _audit.shared_orphans(shared_root, claimed)]
            prune += _audit.shared_prune_paths(shared_root, claimed)
        result.update(
            changed=False,
            credentials=rows,
            units=host["units"],
            directory_state=host["directory_state"],
            orphaned=orphaned,
            prune=prune,
            table=_audit.table(rows),
            # Files not encrypted to whom the configuration wants now: microvm_credentials_rekey re-encrypts them.
            not_current=[dict(label=slot.label, path=slot.store.path(slot.directory, slot.name), recipients=now, wanted=wanted)
                         for slot, now, wanted in stale],
        )
        return result

    def _shared_claims(self, task_vars):
        """(the shared store, the shared names every host of the inventory claims), or (None, None)
        when a host's microvm_instances cannot be read: then no shared entry is called orphaned."""
        try:
            shared_root = shared_store_of(task_vars, self._templar)
        except AnsibleError:
            return None, None
        claimed = set()
        hostvars = task_vars.get("hostvars") or {}
        for name in (task_vars.get("groups") or {}).get("all", []):
            try:
                spec = self._templar.template(hostvars[name].get("microvm_instances"))
                for instance in normalize_instances(spec or {}, "hostvars[%s].microvm_instances" % name):
                    claimed.update(c["shared_name"] for c in instance["credentials"] if c.get("scope") == "shared")
            except (AnsibleError, ConfigError, KeyError) as exc:
                display.warning("the audit lists no orphaned shared secrets: %s" % to_native(exc))
                return None, None
        return shared_root, claimed
