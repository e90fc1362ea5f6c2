# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The backends by name: microvm_credentials_backend picks one. A new backend is one file
beside this one (a Backend subclass, see backend.py) and one line here."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.microvm.credentials.plugins.plugin_utils._store.backend import StoreError
from ansible_collections.microvm.credentials.plugins.plugin_utils._store.vault import VaultBackend

BACKEND_VAR = "microvm_credentials_backend"


BACKENDS = dict((cls.name, cls) for cls in (VaultBackend,))
# Every file suffix a backend writes: the audit tells an orphan of any backend.
SUFFIXES = tuple(sorted(cls.suffix for cls in BACKENDS.values()))


def make_backend(name, options):
    """The backend NAME built from OPTIONS (a dict the action fills from its variables)."""
    if name not in BACKENDS:
        raise StoreError("%s: unknown backend %r (known: %s)" % (BACKEND_VAR, name, ", ".join(sorted(BACKENDS))))
    backend = BACKENDS[name].from_options(options)
    backend.check()
    return backend
