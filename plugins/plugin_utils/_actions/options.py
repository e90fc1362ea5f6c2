# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The options of the collection's actions and their validation.

Each action has an ActionOptions: its argument spec, which its docs-only module
documents (the options both actions take in the doc fragment
microvm.credentials.action_options), and the validation of a task's arguments. Most
options hold a user's variable (the role passes microvm_instances,
microvm_credentials_store, ...): an error names that variable (VARIABLES).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.errors import UnsupportedError

from ansible_collections.microvm.credentials.plugins.module_utils._host.credstore import KEYS

# Option -> the role variable it holds, which errors name.
VARIABLES = {
    "instances": "microvm_instances",
    "store": "microvm_credentials_store",
    "rotate": "microvm_rotate",
    "directory": "microvm_credential_directory",
    "key": "microvm_credential_key",
}


# The options of both actions (plugins/doc_fragments/action_options.py documents them).
COMMON_SPEC = dict(
    # _config.normalize_instances validates it, naming the path of each error (a null is no instance).
    instances=dict(type="raw", required=True),
    store=dict(type="path"),
    # A host path: never expanded on the controller (_config.check_credential_directory validates it).
    directory=dict(type="str", default="/var/lib/microvm-credentials"),
    key=dict(type="str", choices=list(KEYS), default="auto"),
    # Checked by _store.backends.make_backend, which names the variable and the known backends.
    backend=dict(type="str", default="vault"),
    vault_id=dict(type="str"),
    # With backend sops (_store/sops.py and _actions/backend_options.py check them).
    sops_recipients=dict(type="list", elements="str", default=[]),
    sops_admins=dict(type="list", elements="str", default=[]),
    sops_binary=dict(type="str"),
    sops_config=dict(type="path"),
)


class ArgumentError(ValueError):
    pass


def variable(params, option):
    """The user's variable OPTION came from (the option itself when none does). PARAMS is kept for
    the callers' symmetry with the validated options."""
    return VARIABLES.get(option, option)


class ActionOptions(object):
    """The argument spec of the action ACTION, and the check of its values the spec cannot say (CHECK(params))."""

    def __init__(self, action, spec, check=None):
        self.action = action
        self.spec = spec
        self._check = check

    def _first_error(self, args):
        """The first option, in spec order, that does not validate on its own, with its error."""
        for option, spec in self.spec.items():
            messages = ArgumentSpecValidator({option: spec}).validate(dict((k, v) for k, v in args.items() if k == option)).error_messages
            if messages:
                return option, messages[0]
        return None, None

    def validate(self, args):
        """The validated options of ARGS (the task's arguments), defaults filled in, or ArgumentError."""
        # The validator deep-copies every value, and a raw option (instances: every instance and
        # credential of the host) has nothing to convert: it is validated with a stand-in and kept
        # as it is (normalize_instances checks it, naming the path of each error).
        raw = [k for k, spec in self.spec.items() if spec.get("type") == "raw" and k in args]
        result = ArgumentSpecValidator(self.spec).validate(dict(args, **dict((k, None) for k in raw)))
        params = result.validated_parameters
        params.update((k, args[k]) for k in raw)
        if result.error_messages:
            unsupported = [e for e in result.errors if isinstance(e, UnsupportedError)]
            if unsupported:
                raise ArgumentError("Unsupported parameters for (%s): %s" % (self.action, unsupported[0]))
            option, message = self._first_error(args)
            if option is None:
                raise ArgumentError(result.error_messages[0])
            raise ArgumentError("%s: %s" % (variable(args, option), message))
        if self._check:
            self._check(params)
        return params


def _check_credentials(params):
    if not params["store"]:
        raise ArgumentError("%s is required: the controller directory of this host's vault encrypted secrets"
                            % variable(params, "store"))
    if params["lock_timeout"] < 0:
        raise ArgumentError("lock_timeout: must be a number of seconds, 0 or more, got %d" % params["lock_timeout"])


CREDENTIALS = ActionOptions("microvm.credentials.microvm_credentials", dict(
    COMMON_SPEC,
    store=dict(COMMON_SPEC["store"], required=True),
    shared_store=dict(type="path"),
    rotate=dict(type="list", elements="str", default=[]),
    purge=dict(type="bool", default=True),
    lock_timeout=dict(type="int", default=300),
    rekey=dict(type="bool", default=False),
), _check_credentials)

# Without a store, the audit reads the one the role would use (_store_location.store_of).
INFO = ActionOptions("microvm.credentials.microvm_credentials_info", dict(COMMON_SPEC, report_key=dict(type="str")))
