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
from ansible.utils.display import Display

from ansible_collections.microvm.credentials.plugins.module_utils._host.credstore import KEYS
from ansible_collections.microvm.credentials.plugins.plugin_utils._actions.variables import host_variable

display = Display()

# Option -> the role variable it holds, which errors name.
VARIABLES = {
    "instances": "microvm_instances",
    "store": "microvm_credentials_store",
    "rotate": "microvm_rotate",
    "credential_directory": "microvm_credential_directory",
    "key": "microvm_credential_key",
}


# The options of both actions (plugins/doc_fragments/action_options.py documents them).
COMMON_SPEC = dict(
    # _schema.instances.normalize_instances validates it, naming the path of each error (a null is no instance).
    # Unset: the host's microvm_instances (instances_arg).
    instances=dict(type="raw"),
    store=dict(type="path"),
    # A host path: never expanded on the controller (_schema.instances.check_credential_directory validates it).
    # The alias directory keeps the tasks written before the rename working until 1.0.0.
    credential_directory=dict(type="str", default="/var/lib/microvm-credentials", aliases=["directory"],
                              deprecated_aliases=[dict(name="directory", version="1.0.0", collection_name="microvm.credentials")]),
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


def instances_arg(args, task_vars, templar):
    """The task's instances, or, when it gives none, the host's microvm_instances, read as the task
    argument "{{ microvm_instances }}" would give it (see variables.py: it costs less)."""
    if args.get("instances") is not None:
        return args["instances"]
    if VARIABLES["instances"] not in (task_vars or {}):
        raise ArgumentError("instances: not given, and the host has no %s" % VARIABLES["instances"])
    return host_variable(task_vars, templar, VARIABLES["instances"])  # a null is no instance, as given


def deprecated_aliases(action, spec, args):
    """The deprecation of each deprecated alias ARGS use, as dicts of Display.deprecated's arguments.
    The ArgumentSpecValidator of an action, unlike a module's, reports none itself."""
    return [dict(msg="%s: option %s is deprecated, use %s" % (action, alias["name"], option),
                 version=alias["version"], collection_name=alias["collection_name"])
            for option, option_spec in spec.items() for alias in option_spec.get("deprecated_aliases", []) if alias["name"] in args]


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
            names = [option] + spec.get("aliases", [])
            messages = ArgumentSpecValidator({option: spec}).validate(dict((k, v) for k, v in args.items() if k in names)).error_messages
            if messages:
                return option, messages[0]
        return None, None

    def _check_aliases(self, args):
        """Refuse an option given twice, by its name and an alias: which value is meant is not clear."""
        for option, spec in self.spec.items():
            given = [name for name in spec.get("aliases", []) if name in args]
            if given and option in args:
                raise ArgumentError("%s: both %s and its alias %s are set; keep %s" % (variable(args, option), option, given[0], option))

    def validate(self, args):
        """The validated options of ARGS (the task's arguments), defaults filled in, or ArgumentError."""
        self._check_aliases(args)
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
        for deprecation in deprecated_aliases(self.action, self.spec, args):
            display.deprecated(deprecation["msg"], version=deprecation["version"], collection_name=deprecation["collection_name"])
        return params


def _check_credentials(params):
    if not params["store"]:
        raise ArgumentError("%s is required: the controller store, the directory of this host's encrypted secrets"
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

# Without a store, the audit reads the one the role would use (_store.location.store_of).
INFO = ActionOptions("microvm.credentials.microvm_credentials_info", dict(COMMON_SPEC, report_key=dict(type="str")))
