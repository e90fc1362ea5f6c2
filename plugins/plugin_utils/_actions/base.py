# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What both actions share: the forced-stdin transport, reading src files, and the store's backend."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib

from ansible.errors import AnsibleActionFail, AnsibleError
from ansible.module_utils.common.text.converters import to_native
from ansible.parsing.vault import is_encrypted
from ansible.plugins.action import ActionBase

from ansible_collections.microvm.credentials.plugins.plugin_utils._resolve import Value
from ansible_collections.microvm.credentials.plugins.plugin_utils._actions.backend_options import backend_options
from ansible_collections.microvm.credentials.plugins.plugin_utils._store.backends import make_backend


class CredentialActionBase(ActionBase):
    """The base of microvm_credentials and microvm_credentials_info."""

    TRANSFERS_FILES = False

    def __init__(self, *args, **kwargs):
        super(CredentialActionBase, self).__init__(*args, **kwargs)
        self._src_decryptions = 0

    def _is_pipelining_enabled(self, module_style, wrap_async=False):
        # The module's arguments carry secrets: they go on stdin, whatever the configuration or
        # ANSIBLE_KEEP_REMOTE_FILES say, and never into a file on the host (see transport.py).
        return module_style == "new" and not wrap_async

    def _read_src(self, src, path):
        """The Value of a src file: its bytes, or, for a vault encrypted file, decrypted on first use."""
        try:
            with open(self._find_needle("files", src), "rb") as f:
                data = f.read()
        except (AnsibleError, IOError, OSError) as exc:
            raise AnsibleActionFail("%s.src: cannot read %s on the controller: %s" % (path, src, to_native(getattr(exc, "message", exc))))
        source = hashlib.sha256(data).hexdigest()
        if not is_encrypted(data):
            return Value(data=data, source=source)

        def decrypt():
            self._src_decryptions += 1
            try:
                return self._loader._vault.decrypt(data)
            except AnsibleError as exc:
                raise AnsibleActionFail("%s.src: cannot decrypt %s on the controller: %s" % (path, src, to_native(exc.message)))
        return Value(load=decrypt, source=source)

    def _backend(self, args, var_name, by_name=None):
        """The store's backend; BY_NAME: a shared store's sops recipients per shared name."""
        return make_backend(args["backend"], backend_options(args, var_name, self._loader._vault.secrets, by_name))
