# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The options of the microvm.credentials.microvm_credentials action and their validation.

ARGUMENT_SPEC is what plugins/modules/microvm_credentials.py documents. Most options
hold a user's variable (the role passes microvm_instances, microvm_credentials_store,
...): an error names that variable, taken from the matching *_var_name option.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.errors import UnsupportedError

from ansible_collections.microvm.credentials.plugins.module_utils._credstore import KEYS

ACTION = "microvm.credentials.microvm_credentials"
# Option -> (the option naming its variable, that variable's usual name).
VARIABLES = {
    "instances": ("var_name", "microvm_instances"),
    "store": ("store_var_name", "microvm_credentials_store"),
    "rotate": ("rotate_var_name", "microvm_rotate"),
    "directory": ("directory_var_name", "microvm_credential_directory"),
    "key": ("key_var_name", "microvm_credential_key"),
}

ARGUMENT_SPEC = dict(
    # _config.normalize_instances validates it, naming the path of each error (a null is no instance).
    instances=dict(type="raw", required=True),
    store=dict(type="path", required=True),
    shared_store=dict(type="path"),
    rotate=dict(type="list", elements="str", default=[]),
    # A host path: never expanded on the controller (_config.check_credential_directory validates it).
    directory=dict(type="str", default="/var/lib/microvm-credentials"),
    key=dict(type="str", choices=list(KEYS), default="auto"),
    purge=dict(type="bool", default=True),
    lock_timeout=dict(type="int", default=300),
)
ARGUMENT_SPEC.update((option, dict(type="str", default=default)) for option, default in VARIABLES.values())


class ArgumentError(ValueError):
    pass


def variable(params, option):
    """The user's variable OPTION came from (the option itself when none does)."""
    if option not in VARIABLES:
        return option
    name_option, default = VARIABLES[option]
    return params.get(name_option) or default


def _first_error(args):
    """The first option, in ARGUMENT_SPEC order, that does not validate on its own, with its error."""
    for option, spec in ARGUMENT_SPEC.items():
        messages = ArgumentSpecValidator({option: spec}).validate(dict((k, v) for k, v in args.items() if k == option)).error_messages
        if messages:
            return option, messages[0]
    return None, None


def validate(args):
    """The validated options of ARGS (the task's arguments), defaults filled in, or ArgumentError."""
    result = ArgumentSpecValidator(ARGUMENT_SPEC).validate(dict(args))
    params = result.validated_parameters
    if result.error_messages:
        unsupported = [e for e in result.errors if isinstance(e, UnsupportedError)]
        if unsupported:
            raise ArgumentError("Unsupported parameters for (%s): %s" % (ACTION, unsupported[0]))
        option, message = _first_error(args)
        if option is None:
            raise ArgumentError(result.error_messages[0])
        raise ArgumentError("%s: %s" % (variable(args, option), message))
    if not params["store"]:
        raise ArgumentError("%s is required: the controller directory of this host's vault encrypted secrets"
                            % variable(params, "store"))
    if params["lock_timeout"] < 0:
        raise ArgumentError("lock_timeout: must be a number of seconds, 0 or more, got %d" % params["lock_timeout"])
    return params
