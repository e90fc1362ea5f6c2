# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""One definition per shared secret, on every host and in every run.

A shared secret is made once for every host that declares it: two hosts that declare it
differently would each get what the first one asked for, or, with regenerate_on_change,
a new value on every run. So before anything is generated or written:

- within a run, each host compares its declarations with those of the play's other hosts
  (from hostvars);
- across runs, the shared store's metadata records, under ``declared``, each host's last
  declaration (instance, credential, definition hash). A recorded declaration of another
  host that differs from this host's is an error, unless that host, still in the
  inventory, now declares it this way or no longer declares it (the definition changed
  everywhere: the usual warning or regenerate_on_change applies), or the secret is being
  rotated. A value made anew records the declaration of the host that made it only.

Pure code; errors name this host's variable path and the other declaration.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json

from ansible_collections.microvm.credentials.plugins.plugin_utils._generators.options import shared_definition
from ansible_collections.microvm.credentials.plugins.plugin_utils._schema.checks import ConfigError


class Declaration(object):
    """Where HOST declares the shared secret NAME (INSTANCE, CREDENTIAL id, its variable PATH) and
    the hash of its DEFINITION."""

    def __init__(self, name, host, instance, credential, path, definition):
        self.name, self.host, self.instance, self.credential = name, host, instance, credential
        self.path, self.definition = path, definition

    def __str__(self):
        return "%s on %s" % (self.path, self.host)

    def entry(self):
        """What the shared store's metadata records of it, under its host."""
        return {"instance": self.instance, "credential": self.credential, "definition": self.definition}


def record(declared, declaration):
    """The metadata's ``declared`` ({host: entry}) with DECLARATION: added to DECLARED (the
    recorded one, when the value is kept) or alone (None: the value is made anew)."""
    out = dict(declared) if isinstance(declared, dict) else {}
    out[declaration.host] = declaration.entry()
    return out


def declarations(host, instances, var_name):
    """{shared name: Declaration} of the normalised INSTANCES of HOST (the first of each name:
    instances.py already makes the others of this host agree with it)."""
    found = {}
    for instance in instances or []:
        creds = dict((c["id"], c) for c in instance["credentials"])
        for cred in instance["credentials"]:
            if cred.get("scope") != "shared" or cred["shared_name"] in found:
                continue
            text = json.dumps(shared_definition(cred, creds), sort_keys=True)
            found[cred["shared_name"]] = Declaration(
                cred["shared_name"], host, instance["name"], cred["id"], "%s.%s.credentials.%s" % (var_name, instance["name"], cred["id"]),
                "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest())
    return found


def _differs(mine, other, how):
    return ConfigError(str(mine), "defines shared secret %s differently from %s%s; a shared secret has one definition on "
                                  "every host: make them the same" % (mine.name, other, how))


def check_hosts(mine, others):
    """MINE ({name: Declaration}) agrees with OTHERS ({host: {name: Declaration}}, the play's other hosts)."""
    for name, declaration in sorted(mine.items()):
        for host in sorted(others):
            other = others[host].get(name)
            if other is not None and other.definition != declaration.definition:
                raise _differs(declaration, other, "")


def check_recorded(mine, recorded, current_of, rotating):
    """MINE agrees with the declarations RECORDED ({name: metadata or None}) by earlier runs.

    CURRENT_OF(host) returns that host's declarations now ({name: Declaration}), or None when
    it is not in the inventory (or its configuration cannot be read); ROTATING(name) is true
    for a shared secret being rotated.
    """
    for name, declaration in sorted(mine.items()):
        declared = (recorded.get(name) or {}).get("declared")
        if not isinstance(declared, dict) or rotating(name):
            continue
        for host, entry in sorted(declared.items()):
            if host == declaration.host or not isinstance(entry, dict) or entry.get("definition") == declaration.definition:
                continue
            current = current_of(host)
            if current is not None and (name not in current or current[name].definition == declaration.definition):
                continue  # that host now declares it this way, or no longer: the definition changed everywhere
            if current is not None:
                raise _differs(declaration, current[name], "")
            var_name = declaration.path.split(".", 1)[0]
            other = Declaration(name, host, entry.get("instance"), entry.get("credential"),
                                "%s.%s.credentials.%s" % (var_name, entry.get("instance"), entry.get("credential")), None)
            raise _differs(declaration, other, " (recorded in the shared store by an earlier run; rotate shared:%s to make "
                                               "it anew with this definition)" % name)
