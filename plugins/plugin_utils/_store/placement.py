# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Where a controller store may be: outside what Ansible reads as inventory, and apart
from the other stores.

Ansible parses every file of an inventory directory (and of the group_vars and
host_vars beside an inventory or a playbook) as inventory or variables: a store there
would turn secret material into host names on the next run. Ansible skips names that
start with a dot, so a store under a dot directory (the default
``INVENTORY_DIR/.microvm-credentials/HOST``) is fine.

A host's store and the shared store each have a lock beside them and files of their
own layout: one inside the other, or the same directory, would mix the two and make a
run wait for its own lock.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.microvm.credentials.plugins.plugin_utils._schema.checks import ConfigError


def _real(path):
    return os.path.realpath(os.path.abspath(path))


def _inside(path, directory):
    """PATH relative to DIRECTORY (both real), or None when it is not DIRECTORY or below it."""
    if os.path.commonpath([path, directory]) != directory:
        return None
    return os.path.relpath(path, directory)


def read_as_inventory(inventory_dir, playbook_dir, inventory_sources):
    """The directories Ansible reads inventory or variables from, for a host with INVENTORY_DIR
    in a play of PLAYBOOK_DIR, with the run's INVENTORY_SOURCES (ansible_inventory_sources)."""
    dirs = []
    for base in (inventory_dir, playbook_dir):
        if base:
            dirs += [os.path.join(base, "group_vars"), os.path.join(base, "host_vars")]
    dirs += [source for source in inventory_sources or [] if isinstance(source, str) and os.path.isdir(source)]
    return sorted(set(_real(d) for d in dirs))


def check_outside_inventory(store, var_name, read_dirs):
    """STORE is in none of READ_DIRS, unless through a dot directory, which Ansible skips."""
    store = _real(store)
    for directory in read_dirs:
        rel = _inside(store, directory)
        if rel is None:
            continue
        if rel == os.curdir or not any(part.startswith(".") for part in rel.split(os.sep)):
            raise ConfigError(var_name, "%s is inside %s, which Ansible reads as inventory: it would parse the store's "
                                        "files as inventory on the next run. Put the store in a directory whose name starts "
                                        "with '.' (Ansible skips those; the default is INVENTORY_DIR/.microvm-credentials/HOST) "
                                        "or outside the inventory" % (store, directory))


def check_apart(store, store_var, shared, shared_var):
    """The host's STORE and the SHARED store are two directories, neither inside the other."""
    store, shared = _real(store), _real(shared)
    if _inside(store, shared) is not None or _inside(shared, store) is not None:
        raise ConfigError(shared_var, "%s and %s (%s) are the same directory or one is inside the other; the shared store "
                                      "and a host's store must be apart" % (shared, store_var, store))
