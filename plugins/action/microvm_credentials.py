# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Controller half of microvm.credentials.microvm_credentials (see the module for docs).

Order matters: validate everything (config, values, SMBIOS limits) first, then write
new secrets to the vault store, then make one module call on the host.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import fnmatch
import hashlib

from ansible.errors import AnsibleActionFail, AnsibleError
from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.action import ActionBase

from ansible_collections.microvm.credentials.plugins.module_utils._launcher.smbios import (
    OemStringError,
    check_limits,
    check_unique,
    encode_credential,
)
from ansible_collections.microvm.credentials.plugins.plugin_utils import _host_probe
from ansible_collections.microvm.credentials.plugins.plugin_utils._config import (
    ConfigError,
    check_credential_directory,
    check_key,
    normalize_instances,
)
from ansible_collections.microvm.credentials.plugins.plugin_utils._generators import GenerateError
from ansible_collections.microvm.credentials.plugins.plugin_utils._lock import StoreLock
from ansible_collections.microvm.credentials.plugins.plugin_utils._public_store import save_public
from ansible_collections.microvm.credentials.plugins.plugin_utils._resolve import resolve
from ansible_collections.microvm.credentials.plugins.plugin_utils._transport import TransportError, check_pipe, stdin_capable
from ansible_collections.microvm.credentials.plugins.plugin_utils._vault_store import VaultStore, resolve_store_path


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("instances", "store", "rotate", "directory", "key", "var_name", "purge", "lock_timeout",
                             "store_var_name", "rotate_var_name", "directory_var_name", "key_var_name"))

    def _is_pipelining_enabled(self, module_style, wrap_async=False):
        # The module's arguments carry secrets: they go on stdin, whatever the configuration or
        # ANSIBLE_KEEP_REMOTE_FILES say, and never into a file on the host (see _transport).
        return module_style == "new" and not wrap_async

    def _probe_host(self, instances, directory, key, var_name):
        """What the host can do (TPM2, hypervisor versions, directory ownership), from one command."""
        res = self._low_level_execute_command(_host_probe.build_command(instances, directory))
        if res.get("rc") != 0:
            raise AnsibleActionFail("cannot probe the host (exit %s): %s" % (res.get("rc"), to_native(res.get("stderr", "")).strip()))
        facts = _host_probe.parse(to_native(res.get("stdout", "")))
        error = _host_probe.check(facts, key) or _host_probe.check_hypervisors(facts, instances, var_name)
        if error:
            raise AnsibleActionFail(error)
        return facts

    def _rotated(self, patterns, instance, cred_id):
        return any(fnmatch.fnmatchcase("%s/%s" % (instance, cred_id), p) for p in patterns)

    def _read_src(self, src, path):
        try:
            source = self._find_needle("files", src)
            real = self._loader.get_real_file(source, decrypt=True)  # vault encrypted files work too
            try:
                with open(real, "rb") as f:
                    return f.read()
            finally:
                self._loader.cleanup_tmp_file(real)
        except AnsibleError as exc:
            raise AnsibleActionFail("%s.src: cannot read %s on the controller: %s" % (path, src, to_native(exc.message)))

    def _resolve(self, instance, store, rotate, var_name):
        """Return ({cred_id: value}, [new cred ids], {cred_id: public half}) for one normalised instance."""
        path = "%s.%s.credentials" % (var_name, instance["name"])
        try:
            res = resolve(instance, path, store, lambda cred_id: self._rotated(rotate, instance["name"], cred_id), self._read_src)
        except GenerateError as exc:
            raise AnsibleActionFail(to_native(exc))
        return res.values, res.new, res.public

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        args = self._task.args
        unknown = set(args) - self._VALID_ARGS
        if unknown:
            raise AnsibleActionFail("unsupported parameter(s): %s" % ", ".join(sorted(unknown)))
        var_name = args.get("var_name", "microvm_instances")
        store_var, rotate_var = args.get("store_var_name", "microvm_credentials_store"), args.get("rotate_var_name", "microvm_rotate")
        try:
            check_pipe(self._connection)
        except TransportError as exc:
            raise AnsibleActionFail(to_native(exc))
        if not args.get("store"):
            raise AnsibleActionFail("%s is required: the controller directory of this host's vault encrypted secrets" % store_var)
        rotate = args.get("rotate") or []
        if not isinstance(rotate, list) or not all(isinstance(r, str) for r in rotate):
            raise AnsibleActionFail("%s must be a list of INSTANCE/CREDENTIAL_ID patterns" % rotate_var)
        lock_timeout = args.get("lock_timeout", 300)
        if not isinstance(lock_timeout, int) or isinstance(lock_timeout, bool) or lock_timeout < 0:
            raise AnsibleActionFail("lock_timeout must be a number of seconds (0 or more), got %r" % (lock_timeout,))
        try:
            instances = normalize_instances(args.get("instances"), var_name)
            check_credential_directory(args.get("directory", "/var/lib/microvm-credentials"), instances,
                                       args.get("directory_var_name", "microvm_credential_directory"))
            check_key(args.get("key", "auto"), args.get("key_var_name", "microvm_credential_key"))
        except ConfigError as exc:
            raise AnsibleActionFail(to_native(exc))

        known = set("%s/%s" % (i["name"], c["id"]) for i in instances for c in i["credentials"] if "public_of" not in c)
        for pattern in rotate:
            if not fnmatch.filter(known, pattern):
                raise AnsibleActionFail("%s: %r matches no credential of this host (known: %s)"
                                        % (rotate_var, pattern, ", ".join(sorted(known)) or "none"))

        # The host must be able to take the credentials before any secret is generated.
        host_probe = self._probe_host(instances, args.get("directory", "/var/lib/microvm-credentials"), args.get("key", "auto"),
                                      var_name)

        # A relative store belongs to the inventory, never to the current directory.
        task_vars = task_vars or {}
        store_path = resolve_store_path(args["store"], task_vars.get("inventory_dir") or task_vars.get("playbook_dir"), store_var)
        # One run at a time per store, from the first read to the host's answer: a second run
        # then reads what the first stored instead of generating its own values.
        with StoreLock(store_path, lock_timeout, store_var, create=not self._task.check_mode):
            result = self._sync(result, args, instances, rotate, store_path, store_var, var_name, task_vars)
        result["host_probe"] = host_probe
        result["missing_hypervisors"] = _host_probe.missing_hypervisors(host_probe)
        return result

    def _sync(self, result, args, instances, rotate, store_path, store_var, var_name, task_vars):
        # 1. Resolve every value in memory and validate what the guests will get.
        store = VaultStore(store_path, self._loader._vault.secrets, store_var)
        if not self._task.check_mode:
            store.sweep()  # leftovers of a run killed while saving
        resolved, public = [], {}
        for instance in instances:
            values, new, public[instance["name"]] = self._resolve(instance, store, rotate, var_name)
            injected = [c for c in instance["credentials"] if c["inject"]]
            ipath = "%s.%s" % (var_name, instance["name"])
            # Each error names what is at fault: a credential, a static string, or all credentials.
            paths = ["%s.credentials.%s" % (ipath, c["public_of"] + ".inject_public" if "public_of" in c else c["id"]) for c in injected]
            paths += ["%s.oem_strings[%d]" % (ipath, i) for i in range(len(instance["oem_strings"]))]
            strings = []
            for cred, path in zip(injected, paths):
                try:
                    strings.append(encode_credential(cred["name"], values[cred["id"]], cred["binary"]))
                except OemStringError as exc:
                    raise AnsibleActionFail("%s: %s" % (path, exc))
            strings += instance["oem_strings"]
            try:
                check_unique(strings)
                check_limits(strings, instance["hypervisor"])
            except OemStringError as exc:
                path = paths[exc.index] if exc.index is not None else ipath + (".credentials" if injected else ".oem_strings")
                raise AnsibleActionFail("%s: %s" % (path, exc))
            resolved.append((instance, values, new, injected))

        # 2. Persist new secrets on the controller (never in check mode).
        generated = []
        for instance, values, new, dummy in resolved:
            for cred_id in new:
                generated.append("%s/%s" % (instance["name"], cred_id))
                if not self._task.check_mode:
                    store.save(instance["name"], cred_id, values[cred_id])
        # Then the public halves beside them: derived again on every run, written when they changed.
        public_written = []
        for instance_name, halves in sorted(public.items()):
            for cred_id, half in sorted(halves.items()):
                if not self._task.check_mode and save_public(store.root, instance_name, cred_id, half):
                    public_written.append("%s/%s" % (instance_name, cred_id))

        # 3. One module call on the host for all credentials of all instances.
        credentials = [
            {"instance": instance["name"], "name": c["name"], "value": base64.b64encode(values[c["id"]]).decode("ascii")}
            for instance, values, dummy, injected in resolved for c in injected
        ]
        module_args = dict(
            instances=dict((i["name"], {}) for i in instances),
            store=store_path,
            directory=args.get("directory", "/var/lib/microvm-credentials"),
            key=args.get("key", "auto"),
            purge=args.get("purge", True),
            credentials=credentials,
        )
        with stdin_capable(self._connection):
            host = self._execute_module(module_name="microvm.credentials.microvm_credentials", module_args=module_args,
                                        task_vars=task_vars)
        result.update(host)
        if host.get("failed"):
            return result
        result["generated"] = generated
        result["changed"] = bool(host.get("changed")) or bool(generated) or bool(public_written)
        # Not secret: other hosts' templates use them (the role sets the fact microvm_public).
        result["public"] = dict(("%s/%s" % (instance, cred_id), half.decode("utf-8"))
                                for instance, halves in public.items() for cred_id, half in halves.items())
        result["fingerprints"] = dict(
            ("%s/%s" % (instance["name"], c["name"]), {"size": len(values[c["id"]]), "sha256": hashlib.sha256(values[c["id"]]).hexdigest()})
            for instance, values, dummy, injected in resolved for c in injected
        )
        return result
