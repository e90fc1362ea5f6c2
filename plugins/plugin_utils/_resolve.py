# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The values of one instance's credentials: stored, read from src, or generated.

Credentials are resolved in dependency order. A credential is generated anew when
it is not stored, when it is rotated, or when one of its inputs was generated anew
in this run (as a hash follows its password, a certificate follows its CA).
Nothing is written here; the caller persists the new values after validating them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.microvm.credentials.plugins.plugin_utils import _generators
from ansible_collections.microvm.credentials.plugins.plugin_utils._dependencies import graph_of, order
from ansible_collections.microvm.credentials.plugins.plugin_utils._public_store import load_public


class Resolved:
    """The outcome for one instance: VALUES and PUBLIC halves by credential id, NEW ids in order."""

    def __init__(self):
        self.values, self.public, self.new = {}, {}, []

    def pair(self, cred_id):
        return self.values[cred_id], self.public.get(cred_id)


def _generated(cred, graph, resolved, store, instance, stale, path):
    spec = cred["generate"]
    deps = dict((dep, resolved.pair(dep)) for dep in graph[cred["id"]])
    pair = None
    if not stale:
        secret = store.load(instance, cred["id"])
        if secret is not None:
            pair = _generators.current(spec, secret, load_public(store.root, instance, cred["id"]), deps, path)
    if pair is None:
        pair = _generators.make(spec, deps, path)
        resolved.new.append(cred["id"])
    return pair


def resolve(instance, path, store, rotated, read_src):
    """Return the Resolved credentials of the normalised INSTANCE.

    PATH is the variable path of its credentials; STORE a VaultStore; ROTATED(id) is
    true for credentials to rotate; READ_SRC(src, path) returns the bytes of a src.
    Raises _generators.GenerateError or ConfigError.
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
            resolved.values[cred_id] = read_src(cred["src"], cpath)
            continue
        stale = rotated(cred_id) or any(dep in resolved.new for dep in graph[cred_id])
        resolved.values[cred_id], public = _generated(cred, graph, resolved, store, instance["name"], stale, cpath)
        if public is not None:
            resolved.public[cred_id] = public
    return resolved
