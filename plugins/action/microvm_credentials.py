# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Controller half of microvm.credentials.microvm_credentials (see the module for docs).

Order matters: validate everything (config, values, SMBIOS limits) first, then write
new secrets to the store, then call the host.

Digests first: the host is sent, per credential, a token (a keyed digest of the
encrypted file it is made from, never of the value) and answers which credentials it
needs. Only those are decrypted and sent, in a second call. A converge that changes
nothing decrypts nothing and sends no value.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import contextlib
import functools

from ansible.errors import AnsibleActionFail, AnsibleError
from ansible.module_utils.common.text.converters import to_native
from ansible.utils.display import Display

from ansible_collections.microvm.credentials.plugins.module_utils._launcher.smbios import OemStringError, build_oem_strings
from ansible_collections.microvm.credentials.plugins.plugin_utils._actions import host_probe as _host_probe
from ansible_collections.microvm.credentials.plugins.plugin_utils._actions import payload_cache as _payload_cache
from ansible_collections.microvm.credentials.plugins.plugin_utils._actions.backend_options import shared_by_name, shared_consumers
from ansible_collections.microvm.credentials.plugins.plugin_utils._actions import play as _play
from ansible_collections.microvm.credentials.plugins.plugin_utils._actions import rotate as _rotate
from ansible_collections.microvm.credentials.plugins.plugin_utils._actions.base import CredentialActionBase
from ansible_collections.microvm.credentials.plugins.plugin_utils._actions.results import without_invocation
from ansible_collections.microvm.credentials.plugins.plugin_utils._generators import prompt as _prompt
from ansible_collections.microvm.credentials.plugins.plugin_utils._actions.options import CREDENTIALS, ArgumentError, instances_arg, variable
from ansible_collections.microvm.credentials.plugins.plugin_utils._schema.instances import (
    ConfigError,
    check_credential_directory,
    guest_warnings,
    normalize_instances,
)
from ansible_collections.microvm.credentials.plugins.plugin_utils._generators.registry import GenerateError
from ansible_collections.microvm.credentials.plugins.plugin_utils._schema import shared as _shared_check
from ansible_collections.microvm.credentials.plugins.plugin_utils._store import placement as _store_placement
from ansible_collections.microvm.credentials.plugins.plugin_utils._store.lock import StoreLock
from ansible_collections.microvm.credentials.plugins.plugin_utils._resolve import (
    Context,
    host_token,
    persist,
    prompted_labels,
    resolve,
    systemd_time,
)
from ansible_collections.microvm.credentials.plugins.plugin_utils._store import recipients as _recipients
from ansible_collections.microvm.credentials.plugins.plugin_utils._store.location import SHARED_STORE_VAR, secret_labels, slot_of, src_labels, uses_shared
from ansible_collections.microvm.credentials.plugins.plugin_utils._actions.transport import TransportError, check_pipe, stdin_capable
from ansible_collections.microvm.credentials.plugins.plugin_utils._store.store import Store, resolve_store_path, run_id

display = Display()

HOST_MODULE = "microvm.credentials.microvm_credentials_host"


def _writes_pending(ctx, stale):
    """Whether persisting CTX (and re-encrypting the STALE files) would write to a controller store."""
    return bool(stale or ctx.writes) or any(slot.load_public() != half.rstrip(b"\n") for slot, half in ctx.publics.values())


class Injected:
    """One credential the host stores: its INSTANCE and guest NAME, its VALUE (a _resolve.Value,
    decrypted only if the host needs it) and NOT_AFTER (an aware datetime or None)."""

    def __init__(self, instance, name, value, not_after):
        self.instance, self.name, self.value, self.not_after = instance, name, value, not_after

    @property
    def label(self):
        return "%s/%s" % (self.instance, self.name)

    def for_host(self, token_key):
        """What the host module gets, without the value: the token of its source; NOT_AFTER as
        systemd-creds encrypt --not-after=@SECONDS."""
        cred = {"instance": self.instance, "name": self.name,
                "token": host_token(token_key, self.value.source(), systemd_time(self.not_after))}
        if self.not_after is not None:
            cred["not_after"] = systemd_time(self.not_after)
        return cred


class ActionModule(CredentialActionBase):
    def _probe_host(self, instances, directory):
        """The probe's answers from a round trip of its own (a shell command, no module), for a run
        that writes the controller store before the host call."""
        res = self._low_level_execute_command(_host_probe.build_command(instances, directory))
        if res.get("rc") != 0:
            raise AnsibleActionFail("cannot probe the host (exit %s): %s" % (res.get("rc"), to_native(res.get("stderr", "")).strip()))
        return to_native(res.get("stdout", ""))

    @staticmethod
    def _check_probe(answers, instances, key, var_name):
        """The host must be able to take the credentials: checked before anything is written."""
        facts = _host_probe.parse(answers)
        error = _host_probe.check(facts, key) or _host_probe.check_hypervisors(facts, instances, var_name)
        if error:
            raise AnsibleActionFail(error)
        return facts

    @staticmethod
    def _check_oem_strings(instance, injected, values, var_name):
        """Build the guest's OEM strings as the launcher will, naming the user's variable at fault."""
        ipath = "%s.%s" % (var_name, instance["name"])
        # Each error names what is at fault: a credential, a static string, or all credentials.
        paths = ["%s.credentials.%s" % (ipath, c["public_of"] + ".inject_public" if "public_of" in c else c["id"]) for c in injected]
        paths += ["%s.oem_strings[%d]" % (ipath, i) for i in range(len(instance["oem_strings"]))]
        try:
            # Placeholders of each value's size and kind: the limits hold without decrypting anything.
            build_oem_strings([(c["name"], values.entry(c["id"]).placeholder(), c["binary"]) for c in injected],
                              instance["oem_strings"], instance["hypervisor"])
        except OemStringError as exc:
            path = paths[exc.index] if exc.index is not None else ipath + (".credentials" if injected else ".oem_strings")
            raise AnsibleActionFail("%s: %s" % (path, exc))

    def _context(self, store, args, instances, rotate, task_vars):
        # Only hosts with shared secrets touch the shared store and its lock.
        shared = None
        if uses_shared(instances):
            shared_path = resolve_store_path(args["shared_store"], task_vars.get("inventory_dir") or task_vars.get("playbook_dir"),
                                             SHARED_STORE_VAR)
            by_name = None
            if args["backend"] == "sops":
                by_name = shared_by_name(shared_consumers(task_vars.get("hostvars") or {}, self._templar.template), args["sops_admins"])
            shared = Store(shared_path, self._backend(args, SHARED_STORE_VAR, by_name), SHARED_STORE_VAR,
                           writable=not self._task.check_mode)
        asker = _prompt.Asker(self._answers, self._task.check_mode)
        return Context(store, shared, lambda label: _rotate.rotated(rotate, label), self._read_src, asker, run=run_id())

    @staticmethod
    def _check_store_places(args, store_path, store_var, instances, task_vars):
        """Stores outside what Ansible reads as inventory, and the shared store apart from this host's."""
        read_dirs = _store_placement.read_as_inventory(task_vars.get("inventory_dir"), task_vars.get("playbook_dir"),
                                                       task_vars.get("ansible_inventory_sources"))
        try:
            _store_placement.check_outside_inventory(store_path, store_var, read_dirs)
            if uses_shared(instances):
                shared_path = resolve_store_path(args["shared_store"], task_vars.get("inventory_dir") or task_vars.get("playbook_dir"),
                                                 SHARED_STORE_VAR)
                _store_placement.check_outside_inventory(shared_path, SHARED_STORE_VAR, read_dirs)
                _store_placement.check_apart(store_path, store_var, shared_path, SHARED_STORE_VAR)
        except ConfigError as exc:
            raise AnsibleActionFail(to_native(exc))

    def _check_shared_declarations(self, args, instances, others, var_name, task_vars):
        """This host's declarations of shared secrets ({name: Declaration}), after checking that the
        play's other hosts that share its shared store declare them the same way."""
        host = task_vars.get("inventory_hostname")
        mine = _shared_check.declarations(host, instances, var_name)
        if not mine:
            return mine
        shared_path = resolve_store_path(args["shared_store"], task_vars.get("inventory_dir") or task_vars.get("playbook_dir"),
                                         SHARED_STORE_VAR)
        theirs = dict((other, _shared_check.declarations(other, insts, var_name)) for other, insts in others().items()
                      if insts and _play.same_shared_store(task_vars, other, shared_path, self._templar))
        try:
            _shared_check.check_hosts(mine, theirs)
        except ConfigError as exc:
            raise AnsibleActionFail(to_native(exc))
        return mine

    def _check_recorded_declarations(self, ctx, var_name, task_vars):
        """Under the shared store's lock, before anything is made: the definitions earlier runs
        recorded agree with this host's, and what this host declares is recorded with its secrets."""
        if ctx.shared_store is None or not self._declared:
            return
        recorded = dict((name, ctx.shared_store.load_meta(None, name)) for name in self._declared)

        def current_of(host):
            insts = _play.instances_of(task_vars, host, var_name, self._templar)
            return None if insts is None else _shared_check.declarations(host, insts, var_name)
        try:
            _shared_check.check_recorded(self._declared, recorded, current_of, lambda name: ctx.rotated("shared:" + name))
        except ConfigError as exc:
            raise AnsibleActionFail(to_native(exc))
        ctx.declared = dict(("shared:" + name, functools.partial(_shared_check.record, declaration=d))
                            for name, d in self._declared.items())

    def _shared_lock(self, ctx, args):
        if ctx.shared_store is None:
            return contextlib.nullcontext()
        return StoreLock(ctx.shared_store.root, args["lock_timeout"], SHARED_STORE_VAR,
                         create=not self._task.check_mode)

    def _resolve(self, instance, ctx, var_name):
        """The _resolve.Resolved credentials of one normalised instance."""
        path = "%s.%s.credentials" % (var_name, instance["name"])
        try:
            return resolve(instance, path, ctx)
        except (GenerateError, _prompt.PromptError) as exc:
            raise AnsibleActionFail(to_native(exc))

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        try:
            _rotate.check_list(self._task.args.get("rotate"), variable(self._task.args, "rotate"))
            args = CREDENTIALS.validate(self._task.args)
            args["instances"] = instances_arg(args, task_vars, self._templar)
        except (ArgumentError, ConfigError) as exc:
            raise AnsibleActionFail(to_native(exc))
        var_name, store_var, rotate_var = variable(args, "instances"), variable(args, "store"), variable(args, "rotate")
        rotate = args["rotate"]
        try:
            check_pipe(self._connection)
        except TransportError as exc:
            raise AnsibleActionFail(to_native(exc))
        try:
            instances = normalize_instances(args["instances"], var_name)
            check_credential_directory(args["credential_directory"], instances, variable(args, "credential_directory"))
            task_vars = task_vars or {}
            # Read only for the checks that need them (answers, a rotation, shared secrets): on each
            # host of a fleet, normalising every other host's instances cost more than its own.
            others = _play.Others(task_vars, var_name, self._templar)
            # Answers are given to every host: those of the play's other hosts are ignored here.
            answers = self._templar.template(task_vars.get(_prompt.ANSWERS_VAR))
            self._answers = _prompt.check_answers(answers, prompted_labels(instances), _play.prompted_by_others(answers, others))
            if uses_shared(instances) and not args["shared_store"]:
                raise ConfigError(SHARED_STORE_VAR, "is required: the controller directory of the shared secrets")
        except ConfigError as exc:
            raise AnsibleActionFail(to_native(exc))
        # Both entry points run this action: each warning is shown once per run and host.
        for warning in [w for instance in instances for w in guest_warnings(instance, var_name)]:
            display.warning(warning)

        try:
            play = [(secret_labels(insts), src_labels(insts)) for insts in others().values() if insts] if rotate else []
            _rotate.check_patterns(rotate, secret_labels(instances), src_labels(instances), rotate_var, play)
        except ConfigError as exc:
            raise AnsibleActionFail(to_native(exc))
        # A relative store belongs to the inventory, never to the current directory.
        store_path = resolve_store_path(args["store"], task_vars.get("inventory_dir") or task_vars.get("playbook_dir"), store_var)
        self._check_store_places(args, store_path, store_var, instances, task_vars)
        self._declared = self._check_shared_declarations(args, instances, others, var_name, task_vars)

        try:
            self._backend(args, store_var)  # the backend can work here (its tools, its key ids)
        except AnsibleError as exc:
            raise AnsibleActionFail(to_native(exc))
        self._probe = None  # the host probe's facts, once its answers are checked

        # One run at a time per store, from the first read to the host's answer: a second run
        # then reads what the first stored instead of generating its own values.
        with StoreLock(store_path, args["lock_timeout"], store_var, create=not self._task.check_mode):
            result = self._sync(result, args, instances, rotate, store_path, store_var, var_name, task_vars)
        if not result.get("failed"):
            result["host_probe"] = self._probe
            result["missing_hypervisors"] = _host_probe.missing_hypervisors(self._probe)
        return result

    def _sync(self, result, args, instances, rotate, store_path, store_var, var_name, task_vars):
        # 1. Resolve every value in memory and validate what the guests will get.
        store = Store(store_path, self._backend(args, store_var), store_var, writable=not self._task.check_mode)
        if not self._task.check_mode:
            store.sweep()  # leftovers of a run killed while saving
        ctx = self._context(store, args, instances, rotate, task_vars)
        # Shared secrets are read, made and written under the shared store's lock too (taken
        # after this host's, never before, so two runs cannot wait for each other).
        with self._shared_lock(ctx, args):
            self._check_recorded_declarations(ctx, var_name, task_vars)
            stale = self._check_recipients(ctx, instances, args, task_vars.get("inventory_hostname"))
            injected, public = self._resolve_all(instances, ctx, var_name)
            # 2. The host must be able to take the credentials before the first write. A run that
            # writes nothing here asks in the host call with the tokens (one round trip in all).
            if not self._task.check_mode and _writes_pending(ctx, stale):
                self._probe = self._check_probe(self._probe_host(instances, args["credential_directory"]), instances, args["key"], var_name)
            # 3. Persist new secrets on the controller (never in check mode).
            result["store_rekeyed"] = _recipients.rekey(stale, self._task.check_mode)
            public_written = [] if self._task.check_mode else persist(ctx)
        for warning in ctx.warnings:
            display.warning(warning)
        return self._call_host(result, args, instances, injected, public, ctx, public_written, task_vars, var_name)

    def _check_recipients(self, ctx, instances, args, host):
        """Before anything changes: files encrypted to other recipients than wanted (an error, or
        to re-encrypt with rekey: returned), and a key of this operator's for every stored file."""
        slots = [slot_of(ctx.store, ctx.shared_store, i["name"], c) for i in instances for c in i["credentials"]
                 if "generate" in c and "public_of" not in c]
        try:
            return _recipients.check(slots, args["rekey"], "needed for host %s" % host)
        except AnsibleError as exc:
            raise AnsibleActionFail(to_native(exc))

    def _resolve_all(self, instances, ctx, var_name):
        """([Injected] of all instances, {instance: {cred_id: public half}})."""
        injected, public = [], {}
        for instance in instances:
            res = self._resolve(instance, ctx, var_name)
            public[instance["name"]] = res.public
            creds = [c for c in instance["credentials"] if c["inject"]]
            self._check_oem_strings(instance, creds, res.values, var_name)
            injected.extend(Injected(instance["name"], c["name"], res.values.entry(c["id"]), res.not_after.get(c["id"])) for c in creds)
        return injected, public

    def _host(self, args, instances, credentials, task_vars):
        # The host's view only: no store path, no generator, no controller path.
        module_args = dict(credential_directory=args["credential_directory"], key=args["key"], purge=args["purge"],
                           _instances=[i["name"] for i in instances], _credentials=credentials)
        if self._probe is None:  # the host then only plans, and answers the probe
            module_args["_probe"] = _host_probe.hypervisor_binaries(instances)
        with stdin_capable(self._connection), _payload_cache.for_action(self, HOST_MODULE):
            return self._execute_module(module_name=HOST_MODULE, module_args=module_args, task_vars=task_vars)

    def _call_host(self, result, args, instances, injected, public, ctx, public_written, task_vars, var_name):
        # 4. Tokens first; values only for what the host needs, in a second call.
        credentials = [item.for_host(ctx.token_key) for item in injected]
        host = self._host(args, instances, credentials, task_vars)
        if "probe" in host:
            self._probe = self._check_probe(host.pop("probe"), instances, args["key"], var_name)
            if "need" not in host and not host.get("failed"):
                host = dict(failed=True, msg="the host module found no systemd-creds or a foreign %s, which its probe "
                            "did not report" % variable(args, "credential_directory"))
            elif host.get("changed") and not host["need"] and not host.get("failed") and not self._task.check_mode:
                host = self._host(args, instances, credentials, task_vars)  # it only planned: now for real
        need = set(host.get("need") or [])
        sent = []
        if need and not host.get("failed") and not self._task.check_mode:
            for cred, item in zip(credentials, injected):
                if item.label in need:
                    cred["value"] = base64.b64encode(item.value.get()).decode("ascii")
                    sent.append(item.label)
            host = self._host(args, instances, credentials, task_vars)
            if host.get("need") and not host.get("failed"):
                host = dict(failed=True, msg="the host's credentials changed during this run (%s); run again"
                            % ", ".join(host["need"]))
        result.update(without_invocation(host))
        if host.get("failed"):
            return result
        result["sent"] = sent  # credentials whose value went to the host in this run (names only)
        result["decryptions"] = ctx.store.decryptions + (ctx.shared_store.decryptions if ctx.shared_store else 0) + self._src_decryptions
        result["generated"] = sorted(ctx.reasons)  # in check mode: what would be
        result["rotated"] = dict((label, reason) for label, reason in ctx.reasons.items() if reason != "created")
        result["changed"] = bool(host.get("changed")) or bool(result["generated"]) or bool(public_written)
        # Not secret: other hosts' templates use them (the role sets the fact microvm_public).
        result["public"] = dict(("%s/%s" % (instance, cred_id), half.decode("utf-8"))
                                for instance, halves in public.items() for cred_id, half in halves.items())
        return result
