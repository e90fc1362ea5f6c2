# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The values of one host's credentials: stored, read from src, prompted or generated.

Credentials are resolved in dependency order. A stored secret is made anew (and the
reason reported) when:

- ``rotate``: microvm_rotate names it (at most once per run, so every host of a run
  that names a shared secret gets the one new value);
- ``input``: one of its inputs was made anew in this run, or after it (a hash follows
  its password, a certificate its CA, also when another host rotated the CA);
- ``definition``: its generator's definition changed and ``regenerate_on_change`` is
  set (otherwise a warning says how to rotate it);
- ``max_age``: it is older than its ``max_age``;
- ``renew``: its certificate ends within ``renew_before``;
- ``stale``: the stored value no longer fits (a hash of another password).

A secret not stored yet is ``created``. Nothing is written here; the caller validates
the values, then calls persist().
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

from ansible_collections.microvm.credentials.plugins.plugin_utils import _generators, _keypairs
from ansible_collections.microvm.credentials.plugins.plugin_utils._dependencies import graph_of, order
from ansible_collections.microvm.credentials.plugins.plugin_utils._generator_config import CERTIFICATE_KINDS, definition_hash
from ansible_collections.microvm.credentials.plugins.plugin_utils._public_store import load_public, save_public
from ansible_collections.microvm.credentials.plugins.plugin_utils._vault_store import format_time, parse_time


class Slot:
    """Where one secret lives: STORE, its DIRECTORY (the instance; None for a shared secret) and NAME.

    LABEL names it in microvm_rotate and in reports: INSTANCE/CREDENTIAL_ID or shared:NAME.
    """

    def __init__(self, store, directory, name, label):
        self.store, self.directory, self.name, self.label = store, directory, name, label

    def load(self):
        return self.store.load(self.directory, self.name)

    def load_public(self):
        return load_public(self.store.root, self.directory, self.name)

    def load_meta(self):
        return self.store.load_meta(self.directory, self.name)


def label_of(instance, cred):
    """How microvm_rotate and reports name the secret of CRED: INSTANCE/CREDENTIAL_ID or shared:NAME."""
    if cred.get("scope") == "shared":
        return "shared:" + cred["shared_name"]
    return "%s/%s" % (instance, cred["id"])


def secret_labels(instances):
    """The labels of the stored secrets (src included) of the normalised INSTANCES, each once."""
    return sorted(set(label_of(i["name"], c) for i in instances for c in i["credentials"] if "public_of" not in c))


def src_labels(instances):
    """The labels of the src credentials of the normalised INSTANCES."""
    return sorted(set(label_of(i["name"], c) for i in instances for c in i["credentials"] if "src" in c))


def uses_shared(instances):
    """True if a credential of the normalised INSTANCES has scope shared."""
    return any(c.get("scope") == "shared" for i in instances for c in i["credentials"])


def prompted_labels(instances):
    return sorted(set(label_of(i["name"], c) for i in instances for c in i["credentials"]
                      if c.get("generate", {}).get("type") == "prompt"))


class Context:
    """What resolving needs besides an instance, and what it found, for all instances of one run.

    STORE and SHARED_STORE are VaultStores; ROTATED(label) is true for secrets to rotate;
    READ_SRC(src, path) returns the bytes of a src; ASK(label, path, text) the operator's
    answer to a prompt; NOW an aware datetime; RUN names this run (_vault_store.run_id).
    """

    def __init__(self, store, shared_store=None, rotated=None, read_src=None, ask=None, now=None, run=None):
        self.store, self.shared_store = store, shared_store
        self.rotated = rotated or (lambda label: False)
        self.read_src, self.ask = read_src, ask
        self.now = now or datetime.datetime.now(datetime.timezone.utc)
        self.run = run
        self.writes = {}  # label: (slot, value or None to record metadata only, metadata)
        self.publics = {}  # label: (slot, public half)
        self.reasons = {}  # label: why it was made anew
        self.warnings = []
        self.shared_made = {}  # label: (pair, new, metadata), so every consumer of a run gets one value
        self.declared = {}  # label: f(recorded declarations or None) -> those to record (_shared_check.record)

    def slot(self, instance, cred):
        if cred.get("scope") == "shared":
            return Slot(self.shared_store, None, cred["shared_name"], label_of(instance, cred))
        return Slot(self.store, instance, cred["id"], label_of(instance, cred))


class Resolved:
    """The outcome for one instance: VALUES and PUBLIC halves by credential id, NEW ids in order,
    TIMES, when each generated value was made (None when unknown), and NOT_AFTER, the end of
    the host credential of those with not_after (an aware datetime)."""

    def __init__(self):
        self.values, self.public, self.new, self.times, self.not_after = {}, {}, [], {}, {}

    def pair(self, cred_id):
        return self.values[cred_id], self.public.get(cred_id)


def _rotated_at(meta):
    return None if meta is None or meta.get("estimated") else parse_time(meta.get("rotated"))


def _expired(cred, meta, public, now):
    if cred["max_age"] is not None and meta is not None:
        made = parse_time(meta.get("rotated"))
        if made is not None and now - made >= datetime.timedelta(seconds=cred["max_age"]):
            return "max_age"
    if cred["renew_before"] is not None and public is not None and cred["generate"]["type"] in CERTIFICATE_KINDS:
        if _keypairs.certificate_not_after(public) - now <= datetime.timedelta(seconds=cred["renew_before"]):
            return "renew"
    return None


def _rotating(ctx, slot, meta):
    """microvm_rotate names it, and no host of this run has made it anew yet."""
    return ctx.rotated(slot.label) and not (ctx.run and meta and meta.get("run") == ctx.run)


def _reason(ctx, cred, slot, meta, definition, inputs, path):
    """Why the stored secret of CRED is to be made anew, or None. INPUTS: [(new, time)] of its inputs."""
    made = _rotated_at(meta)
    if any(new or (made is not None and time is not None and time > made) for new, time in inputs):
        return "input"
    if meta and meta.get("definition") not in (None, definition):
        if cred["regenerate_on_change"]:
            return "definition"
        ctx.warnings.append("%s: its generator definition changed since the stored value was made; the stored value is kept. "
                            "Make it anew with -e '{\"microvm_rotate\": [\"%s\"]}', or set regenerate_on_change: true"
                            % (path, slot.label))
    return _expired(cred, meta, slot.load_public() if cred["renew_before"] else None, ctx.now)


def _make(ctx, slot, spec, deps, path):
    if spec["type"] == "prompt":
        return ctx.ask(slot.label, path + ".prompt", spec["prompt"]), None
    return _generators.make(spec, deps, path)


def _meta(ctx, cred, meta, definition, reason):
    if reason is None:
        # Kept: metadata is recorded where missing, and the definition it was made by stays
        # the recorded one until it is made anew (so the warning repeats until then).
        out = dict(meta)
        out.setdefault("definition", definition)
        out.setdefault("generator", cred["generate"]["type"])
        return out
    now = format_time(ctx.now)
    created = meta.get("created", now) if meta and reason != "created" else now
    return {"generator": cred["generate"]["type"], "definition": definition, "created": created, "rotated": now,
            "reason": reason, "run": ctx.run}


def _generated(ctx, cred, slot, deps, inputs, path):
    """((secret, public), new, metadata) of a generated or prompted credential."""
    if slot.label in ctx.shared_made:
        return ctx.shared_made[slot.label]
    spec = cred["generate"]
    definition = definition_hash(spec)
    meta = slot.load_meta()  # without decrypting: None when nothing is stored
    if meta is not None and _rotating(ctx, slot, meta):
        # Never read: an explicit rotation is the way out of an unreadable stored value.
        secret, reason = None, "rotate"
    else:
        secret = slot.load()
        meta = meta if secret is not None else None
        reason = "created" if secret is None else _reason(ctx, cred, slot, meta, definition, inputs, path)
    pair = None
    if reason is None:
        pair = _generators.current(spec, secret, slot.load_public(), deps, path)
        reason = "stale" if pair is None else None
    if pair is None:
        pair = _make(ctx, slot, spec, deps, path)
        ctx.reasons[slot.label] = reason
    new_meta = _meta(ctx, cred, meta, definition, reason)
    if slot.label in ctx.declared:  # who declares a shared secret, and how (_shared_check)
        new_meta = dict(new_meta, declared=ctx.declared[slot.label](meta.get("declared") if meta and reason is None else None))
    if reason is not None or new_meta != meta:
        ctx.writes[slot.label] = (slot, pair[0] if reason is not None else None, new_meta)
    if pair[1] is not None:
        ctx.publics[slot.label] = (slot, pair[1])
    outcome = (pair, reason is not None, new_meta)
    if slot.directory is None:
        ctx.shared_made[slot.label] = outcome
    return outcome


def resolve(instance, path, ctx):
    """Return the Resolved credentials of the normalised INSTANCE.

    PATH is the variable path of its credentials; CTX the run's Context, which collects
    what to persist. Raises _generators.GenerateError or ConfigError.
    """
    creds = dict((cred["id"], cred) for cred in instance["credentials"])
    graph = graph_of(instance["credentials"])
    resolved = Resolved()
    for cred_id in order(path, graph):
        cred, cpath = creds[cred_id], "%s.%s" % (path, cred_id)
        if "public_of" in cred:
            resolved.values[cred_id] = resolved.public[cred["public_of"]]
            continue
        if "src" in cred:
            resolved.values[cred_id] = ctx.read_src(cred["src"], cpath)
            resolved.times[cred_id] = None
            continue
        deps = dict((dep, resolved.pair(dep)) for dep in graph[cred_id])
        inputs = [(dep in resolved.new, resolved.times[dep]) for dep in graph[cred_id]]
        pair, new, meta = _generated(ctx, cred, ctx.slot(instance["name"], cred), deps, inputs, cpath)
        resolved.times[cred_id] = _rotated_at(meta)
        if cred["not_after"] is not None:
            resolved.not_after[cred_id] = parse_time(meta["rotated"]) + datetime.timedelta(seconds=cred["not_after"])
        resolved.values[cred_id] = pair[0]
        if pair[1] is not None:
            resolved.public[cred_id] = pair[1]
        if new:
            resolved.new.append(cred_id)
    return resolved


def persist(ctx):
    """Write what CTX collected: new secrets (ctx.reasons) with their metadata, then the public
    halves that changed. Returns the labels of the public halves written."""
    # In the order they were resolved, inputs before their dependents: a run killed part-way
    # never leaves a dependent (a hash) stored without the input it was made from.
    for slot, value, meta in ctx.writes.values():
        if value is not None:
            slot.store.save(slot.directory, slot.name, value)
        slot.store.save_meta(slot.directory, slot.name, meta)
    return [label for label, (slot, half) in sorted(ctx.publics.items())
            if save_public(slot.store.root, slot.directory, slot.name, half)]
