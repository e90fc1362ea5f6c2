# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The options a store backend is built from (_store/backends.make_backend), filled from an action's
arguments, and who a shared store's sops files are encrypted to: the union of the recipients of the
hosts whose instances use each shared name, read from the inventory's hostvars."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.microvm.credentials.plugins.plugin_utils._schema.instances import ConfigError, normalize_instances
from ansible_collections.microvm.credentials.plugins.plugin_utils._store import sops as _sops

RECIPIENTS_VAR = "microvm_credentials_sops_recipients"
ADMINS_VAR = "microvm_credentials_sops_admins"


def backend_options(args, var_name, vault_secrets, by_name=None):
    """Options for any backend: each takes the keys it knows."""
    recipients = _sops.host_recipients(args.get("sops_recipients"), args.get("sops_admins"))
    return dict(vault_secrets=vault_secrets, vault_id=args.get("vault_id"), var_name=var_name,
                sops_binary=args.get("sops_binary") or None, config=args.get("sops_config") or None,
                age_recipients=recipients or None, age_recipients_by_name=by_name)


def shared_consumers(hostvars, template):
    """{host: (its recipients, the shared names its instances use)} for every host of HOSTVARS with
    instances. A host whose instances do not validate is left out: its own run reports them."""
    consumers = {}
    for host in hostvars:
        host_vars = hostvars[host]
        raw = host_vars.get("microvm_instances")
        if not raw:
            continue
        try:
            instances = normalize_instances(template(raw), "hostvars[%s].microvm_instances" % host)
        except ConfigError:
            continue
        recipients = _sops.host_recipients(template(host_vars.get(RECIPIENTS_VAR)), template(host_vars.get(ADMINS_VAR)))
        consumers[host] = (recipients, _sops.shared_names(instances))
    return consumers


def shared_by_name(consumers, admins):
    """{shared name: its recipients}: the union of its consumers', plus ADMINS."""
    names = set(n for dummy, used in consumers.values() for n in used)
    return dict((n, sorted(set(_sops.shared_recipients(n, consumers)) | set(admins or []))) for n in names)
