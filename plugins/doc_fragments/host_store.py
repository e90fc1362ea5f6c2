# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The host's view of its credential store, which both internal host modules take
    # (module_utils/_host/credstore.py HOST_STORE_SPEC).
    DOCUMENTATION = r"""
options:
  credential_directory:
    description: Host directory of the encrypted credential store, as the action validated it.
    type: str
    required: true
  key:
    description: The C(--with-key) of C(systemd-creds encrypt) the credentials are, or should be, sealed with.
    type: str
    choices: [auto, host, tpm2, host+tpm2]
    default: auto
  _instances:
    description: Internal. The names of all instances of the host, also those without credentials.
    type: list
    elements: str
    required: true
"""
