# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The dependency graph of an instance's credentials (``generate.inputs``).

Pure code. A credential is generated after its inputs, and regenerated when one of
them is: a hash follows its password, a certificate its CA.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.microvm.credentials.plugins.plugin_utils._schema.checks import ConfigError


def inputs_of(cred):
    """The ids of the credentials the normalised credential CRED is made from."""
    spec = cred.get("generate", {})
    deps = list(spec.get("inputs", []))
    deps += [spec[key] for key in ("password_of", "ca") if spec.get(key) is not None]
    if cred.get("public_of") is not None:
        deps.append(cred["public_of"])
    return deps


def graph_of(credentials):
    """{id: [input ids]} of the normalised CREDENTIALS, for order()."""
    return dict((cred["id"], inputs_of(cred)) for cred in credentials)


def _check_known(path, inputs):
    for cred_id in sorted(inputs):
        for i, dep in enumerate(inputs[cred_id]):
            if dep not in inputs:
                raise ConfigError("%s.%s.generate.inputs[%d]" % (path, cred_id, i),
                                  "%r is not a credential of this instance" % (dep,))


def _cycle_error(path, stack, dep):
    cycle = stack[stack.index(dep):] + [dep]
    return ConfigError("%s.%s.generate.inputs" % (path, cycle[0]), "dependency cycle %s" % " -> ".join(cycle))


def order(path, inputs):
    """Return the credential ids of INPUTS ({id: [input ids]}), each after its inputs.

    PATH is the variable path of the credentials mapping, for errors naming an
    unknown input or a cycle (``a -> b -> a``). Ties are broken by id, so the order
    is stable.
    """
    _check_known(path, inputs)
    done, ordered = set(), []

    def visit(cred_id, stack):
        if cred_id in done:
            return
        if cred_id in stack:
            raise _cycle_error(path, stack, cred_id)
        for dep in sorted(inputs[cred_id]):
            visit(dep, stack + [cred_id])
        done.add(cred_id)
        ordered.append(cred_id)

    for cred_id in sorted(inputs):
        visit(cred_id, [])
    return ordered
