# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # How the lookups find a host's controller store.
    DOCUMENTATION = r"""
options:
  _terms:
    description:
      - "One or more C(INSTANCE/CREDENTIAL_ID), or C(shared:NAME) for a secret of C(scope: shared)."
    type: list
    elements: str
    required: true
  host:
    description:
      - The inventory host whose store to read.
      - Its store is its C(microvm_credentials_store) when set, otherwise the role's default
        C(INVENTORY_DIR/.microvm-credentials/HOST).
      - Defaults to the current host.
    type: str
  store:
    description: The store directory on the controller, relative to the inventory directory unless absolute; overrides O(host).
    type: str
  shared_store:
    description:
      - The shared store directory on the controller, for terms C(shared:NAME); relative to the inventory
        directory unless absolute.
      - Defaults to the host's C(microvm_credentials_shared_store) when set, otherwise the role's default
        C(INVENTORY_DIR/.microvm-credentials-shared).
    type: str
"""
