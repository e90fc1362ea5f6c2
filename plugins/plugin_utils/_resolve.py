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

A vault encrypted src file is not stored, but the store records its shape (size, text) in
``ID.meta``, keyed to the encrypted bytes: while they are the same, a run checks it against
the SMBIOS limits without decrypting it (see _src_record).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import functools
import hashlib
import hmac
import json

from ansible_collections.microvm.credentials.plugins.plugin_utils._schema import authorized_keys as _authorized_keys
from ansible_collections.microvm.credentials.plugins.plugin_utils._generators import registry as _generators
from ansible_collections.microvm.credentials.plugins.plugin_utils._generators import keypairs as _keypairs
from ansible_collections.microvm.credentials.plugins.plugin_utils._schema.graph import graph_of, order
from ansible_collections.microvm.credentials.plugins.plugin_utils._generators.options import CERTIFICATE_KINDS, definition_hash
from ansible_collections.microvm.credentials.plugins.plugin_utils._store.location import label_of, slot_of
from ansible_collections.microvm.credentials.plugins.plugin_utils._store.store import format_time, parse_time


def _is_text(data):
    return b"\x00" not in data and _utf8(data)


def _utf8(data):
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def shape_of(data):
    """What the SMBIOS checks need to know of a value without holding it: its size and whether it is text."""
    return {"size": len(data), "text": _is_text(data)}


class Value:
    """One credential's value, decrypted only when asked for (``get``).

    SOURCE is a digest of what the value is read from, known without decrypting: the
    encrypted store file (after this run's writes: see ``source``), a public half, or a
    src file's bytes. SHAPE ({size, text}) is known from the metadata, so the SMBIOS
    limits are checked without the value.
    """

    def __init__(self, data=None, load=None, slot=None, source=None, shape=None, made=False):
        self._data, self._load, self.slot, self._source = data, load, slot, source
        self.shape = shape if shape is not None or data is None else shape_of(data)
        # A value made in this run: its slot's file is the old one until persist() writes it (never in check mode).
        self._old_file = slot.token() if made else None
        self._made = made

    def get(self):
        if self._data is None:
            self._data = self._load()
            self.shape = shape_of(self._data)
        return self._data

    def source(self):
        """The digest of the value's source; for a stored value, of its file as it is now."""
        if self.slot is None:
            return self._source
        token = self.slot.token()
        if self._made and token == self._old_file:
            return "unwritten"  # check mode: no host holds a value made from this
        return token

    def placeholder(self):
        """Bytes of the value's shape (size, text or not): encoded and limited exactly like the value."""
        if self.shape is None:
            self.get()
        return (b"a" if self.shape["text"] else b"\x00") * self.shape["size"]


class Values:
    """{credential id: bytes}, decrypting each value on first access; ``entry(id)`` is its Value."""

    def __init__(self):
        self._entries = {}

    def __setitem__(self, cred_id, value):
        self._entries[cred_id] = value if isinstance(value, Value) else Value(data=value)

    def __getitem__(self, cred_id):
        return self._entries[cred_id].get()

    def __contains__(self, cred_id):
        return cred_id in self._entries

    def __iter__(self):
        return iter(self._entries)

    def __len__(self):
        return len(self._entries)

    def entry(self, cred_id):
        return self._entries[cred_id]

    def __eq__(self, other):
        return dict((k, self[k]) for k in self) == dict((k, other[k]) for k in other)

    def __ne__(self, other):
        return not self == other


def prompted_labels(instances):
    return sorted(set(label_of(i["name"], c) for i in instances for c in i["credentials"]
                      if c.get("generate", {}).get("type") == "prompt"))


def keyed(key, obj):
    """HMAC-SHA256 (hex) of the JSON of OBJ under the store's token KEY: digests that leave the
    store are keyed, so a digest of a short or chosen value cannot be looked up."""
    return hmac.new(key, json.dumps(obj, sort_keys=True).encode("utf-8"), hashlib.sha256).hexdigest()


def host_token(key, source, not_after):
    """What the host records of a credential: made from SOURCE (a digest of where the value is read
    from), to be refused after NOT_AFTER (systemd-creds --not-after, or None). The converge and the
    audit compute it alike."""
    return keyed(key, [source, not_after])


def not_after_of(cred, meta):
    """The end of the host credential of CRED (an aware datetime), counted from when its value was made."""
    if cred.get("not_after") is None or meta is None:
        return None
    return parse_time(meta["rotated"]) + datetime.timedelta(seconds=cred["not_after"])


def systemd_time(when):
    """WHEN as systemd-creds --not-after takes it: @SECONDS; None stays None."""
    return None if when is None else "@%d" % int(when.timestamp())


class Context:
    """What resolving needs besides an instance, and what it found, for all instances of one run.

    STORE and SHARED_STORE are VaultStores; ROTATED(label) is true for secrets to rotate;
    READ_SRC(src, path) returns the bytes of a src; ASK(label, path, text) the operator's
    answer to a prompt; NOW an aware datetime; RUN names this run (_store.store.run_id).
    """

    def __init__(self, store, shared_store=None, rotated=None, read_src=None, ask=None, now=None, run=None):
        self.store, self.shared_store = store, shared_store
        self.rotated = rotated or (lambda label: False)
        self.read_src, self.ask = read_src, ask
        self.now = now or datetime.datetime.now(datetime.timezone.utc)
        self.run = run
        self.writes = {}  # label: (slot, new Value or None, metadata, stored metadata, Value, check record function)
        self.publics = {}  # label: (slot, public half)
        self.reasons = {}  # label: why it was made anew
        self.warnings = []
        self.shared_made = {}  # label: (pair, new, metadata), so every consumer of a run gets one value
        self.declared = {}  # label: f(recorded declarations or None) -> those to record (_schema.shared.record)
        self.src_shapes = {}  # label: (slot, Value) of encrypted src files whose shape is not recorded

    @property
    def token_key(self):
        """The key of the host's tokens: its own store's."""
        return self.store.token_key()

    def slot(self, instance, cred):
        return slot_of(self.store, self.shared_store, instance, cred)


class Resolved:
    """The outcome for one instance: VALUES and PUBLIC halves by credential id, NEW ids in order,
    TIMES, when each generated value was made (None when unknown), and NOT_AFTER, the end of
    the host credential of those with not_after (an aware datetime)."""

    def __init__(self):
        self.values, self.public, self.new, self.times, self.not_after = Values(), {}, [], {}, {}
        self.sources = {}  # credential id: the digest of its source, as inputs of dependents record it

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


def _shape(meta):
    if meta and isinstance(meta.get("size"), int) and isinstance(meta.get("text"), bool):
        return {"size": meta["size"], "text": meta["text"]}
    return None


def _check_record(slot, definition, input_sources, public):
    """What the last full check (_generators.current) saw: while the definition, the inputs' sources
    and the public half are the same, the stored value still fits, and nothing is decrypted to say so.
    Keyed by the key of the slot's own store, so every host reads a shared secret's record alike."""
    return keyed(slot.store.token_key(), [definition, input_sources, public and hashlib.sha256(public).hexdigest()])


def _src_record(slot, source, shape):
    """What the last decryption of an encrypted src file showed: its SHAPE, while the file's
    encrypted bytes (SOURCE, their SHA-256) stay the same. Keyed like _check_record, so an
    edited record does not pass."""
    return keyed(slot.store.token_key(), ["src", source, shape])


def _src_shape(ctx, slot, value):
    """Give the encrypted src VALUE the shape recorded for its file, if it is the same file;
    otherwise persist() records it once the value has been decrypted (by the SMBIOS checks)."""
    meta = slot.load_record()
    shape = _shape(meta)
    if shape is not None and meta.get("check") == _src_record(slot, value.source(), shape):
        value.shape = shape
    else:
        ctx.src_shapes[slot.label] = (slot, value)


class _Deps:
    """{input id: (secret, public)} of one credential, decrypting an input only when a generator reads it."""

    def __init__(self, resolved, ids):
        self.resolved, self.ids = resolved, ids

    def __getitem__(self, dep):
        if dep not in self.ids:
            raise KeyError(dep)
        return self.resolved.pair(dep)


def _input_sources(resolved, ids):
    return dict((dep, resolved.values.entry(dep).source()) for dep in ids)


def _generated(ctx, cred, slot, deps, inputs, sources, path):
    """((Value, public), new, metadata) of a generated or prompted credential.

    SOURCES() gives the sources of its inputs ({id: digest}); DEPS their values, read only
    when the value is made, or checked because something it was checked against changed.
    """
    if slot.label in ctx.shared_made:
        return ctx.shared_made[slot.label]
    spec = cred["generate"]
    definition = definition_hash(spec)
    meta = slot.load_meta()  # without decrypting: None when nothing is stored
    stored = None
    if meta is not None and _rotating(ctx, slot, meta):
        # Never read: an explicit rotation is the way out of an unreadable stored value.
        reason = "rotate"
    elif not slot.exists():
        meta, reason = None, "created"
    else:
        stored = Value(load=slot.load, slot=slot, shape=_shape(meta))
        reason = _reason(ctx, cred, slot, meta, definition, inputs, path)
    pair, checked = None, False
    if reason is None:
        public = slot.load_public()
        checked = meta.get("check") == _check_record(slot, definition, sources(), public)
        if checked:
            pair = (stored, public)
        else:
            current = _generators.current(spec, stored.get(), public, deps, path)
            pair = None if current is None else (stored, current[1])
            reason = "stale" if pair is None else None
    if pair is None:
        made = _make(ctx, slot, spec, deps, path)
        pair = (Value(data=made[0], slot=slot, made=True), made[1])
        ctx.reasons[slot.label] = reason
    new_meta = _meta(ctx, cred, meta, definition, reason)
    if slot.label in ctx.declared:  # who declares a shared secret, and how (_schema.shared)
        new_meta = dict(new_meta, declared=ctx.declared[slot.label](meta.get("declared") if meta and reason is None else None))

    def record():
        # At persist time, once the inputs' files are written: what this value was checked against.
        return _check_record(slot, definition, sources(), pair[1])

    if reason is not None or not checked or new_meta != meta or _shape(meta) is None:
        ctx.writes[slot.label] = (slot, pair[0] if reason is not None else None, new_meta, meta, pair[0], record)
    if pair[1] is not None:
        ctx.publics[slot.label] = (slot, pair[1])
    outcome = (pair, reason is not None, new_meta)
    if slot.directory is None:
        ctx.shared_made[slot.label] = outcome
    return outcome


def resolve(instance, path, ctx):
    """Return the Resolved credentials of the normalised INSTANCE.

    PATH is the variable path of its credentials; CTX the run's Context, which collects
    what to persist. Raises _generators.GenerateError or ConfigError. Nothing is decrypted
    here unless a value must be made or checked anew: see Value and _check_record.
    """
    creds = dict((cred["id"], cred) for cred in instance["credentials"])
    graph = graph_of(instance["credentials"])
    resolved = Resolved()
    for cred_id in order(path, graph):
        cred, cpath = creds[cred_id], "%s.%s" % (path, cred_id)
        if "public_of" in cred:
            half = resolved.public[cred["public_of"]]
            resolved.values[cred_id] = Value(data=half, source=hashlib.sha256(half).hexdigest())
            continue
        if "authorized_keys" in cred:
            keys = _authorized_keys.value(cred, resolved.public)
            resolved.values[cred_id] = Value(data=keys, source=hashlib.sha256(keys).hexdigest())
            continue
        if "src" in cred:
            src = ctx.read_src(cred["src"], cpath)
            value = src if isinstance(src, Value) else Value(data=src, source=hashlib.sha256(src).hexdigest())
            if value.shape is None:  # encrypted: not decrypted until something needs the value
                _src_shape(ctx, ctx.slot(instance["name"], cred), value)
            resolved.values[cred_id] = value
            resolved.times[cred_id] = None
            continue
        ids = graph[cred_id]
        inputs = [(dep in resolved.new, resolved.times[dep]) for dep in ids]
        sources = functools.partial(_input_sources, resolved, ids)
        pair, new, meta = _generated(ctx, cred, ctx.slot(instance["name"], cred), _Deps(resolved, ids), inputs, sources, cpath)
        resolved.times[cred_id] = _rotated_at(meta)
        if cred["not_after"] is not None:
            resolved.not_after[cred_id] = not_after_of(cred, meta)
        resolved.values[cred_id] = pair[0]
        if pair[1] is not None:
            resolved.public[cred_id] = pair[1]
        if new:
            resolved.new.append(cred_id)
    return resolved


def persist(ctx):
    """Write what CTX collected: new secrets (ctx.reasons) with their metadata, then the public
    halves that changed, and the shapes of the encrypted src files decrypted in this run.
    Returns the labels of the public halves written."""
    # In the order they were resolved, inputs before their dependents: a run killed part-way
    # never leaves a dependent (a hash) stored without the input it was made from.
    # Public halves first: the check record of a key pair covers its public half as written.
    publics = [label for label, (slot, half) in sorted(ctx.publics.items()) if slot.store.save_public(slot.directory, slot.name, half)]
    for slot, new, meta, old_meta, value, record in ctx.writes.values():
        if new is not None:
            slot.store.save(slot.directory, slot.name, new.get())
        meta = dict(meta, check=record())
        if value.shape is not None:
            meta.update(value.shape)
        if meta != old_meta:
            slot.store.save_meta(slot.directory, slot.name, meta)
    for slot, value in ctx.src_shapes.values():
        if value.shape is not None:  # decrypted in this run
            slot.store.save_meta(slot.directory, slot.name, dict(value.shape, check=_src_record(slot, value.source(), value.shape)))
    return publics
