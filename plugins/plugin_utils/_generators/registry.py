# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Every generator behind one interface: make a (secret, public) pair, or check a stored one.

DEPS maps the id of each input (see _dependencies.inputs_of) to its (secret, public)
pair; PATH is the credential's variable path, for errors. Public halves are bytes
or None.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.microvm.credentials.plugins.plugin_utils._generators import command as _command_generator
from ansible_collections.microvm.credentials.plugins.plugin_utils._generators import keypairs as _keypairs
from ansible_collections.microvm.credentials.plugins.plugin_utils._generators import random as _secrets


class GenerateError(ValueError):
    """A secret cannot be made or used; the message starts with the variable path."""


def _text_public(pair):
    # One form everywhere (variables, lookups, guests): no final newline; the .pub file adds one.
    secret, public = pair
    return secret, None if public is None else public.rstrip(b"\n")


def _error(path, exc):
    field = getattr(exc, "field", None)
    return GenerateError("%s.generate%s: %s" % (path, "." + field if field else "", exc))


def _ca_pair(spec, deps):
    return deps[spec["ca"]] if spec.get("ca") is not None else None


def _command(spec, deps, path):
    outputs = [name for name in (spec["output"], spec["public_output"]) if name is not None]
    made = _command_generator.run(path + ".generate", spec["argv"], dict((i, deps[i][0]) for i in spec["inputs"]),
                                  spec["stdin"], outputs or None, spec["timeout"])
    if not outputs:
        return made, None
    return made[spec["output"]], made.get(spec["public_output"])


def _make(spec, deps, path):
    kind = spec["type"]
    if kind == "ssh":
        return _keypairs.ssh(spec["key_type"], spec["bits"], spec["curve"], spec["comment"])
    if kind == "wireguard":
        return _keypairs.wireguard()
    if kind == "ca":
        return _keypairs.ca(spec["common_name"], spec["days"], spec["key_type"], spec["bits"], spec["curve"])
    if kind == "tls":
        return _keypairs.tls(spec["common_name"], spec["dns"], spec["ips"], spec["days"], _ca_pair(spec, deps),
                             spec["key_type"], spec["bits"], spec["curve"])
    if kind == "command":
        return _command(spec, deps, path)
    password = deps[spec["password_of"]][0] if spec.get("password_of") else None
    return _secrets.generate(spec, password), None


def make(spec, deps, path):
    """Return a new (secret, public) for the normalised generator SPEC."""
    try:
        return _text_public(_make(spec, deps, path))
    except _command_generator.CommandError as exc:
        raise GenerateError(str(exc))
    except (_keypairs.KeyPairError, _secrets.SecretError) as exc:
        raise _error(path, exc)


def _certificate(spec, secret, public, deps):
    """The stored certificate if it still fits the key, the CA and the definition, else a new one."""
    names = (spec["common_name"], spec["dns"], spec["ips"])
    if public is not None and _keypairs.certificate_matches_key(public, secret) and _keypairs.certificate_names(public) == names:
        return public
    return _keypairs.certificate(secret, spec["common_name"], spec["dns"], spec["ips"], spec["days"], _ca_pair(spec, deps))


def _ca_certificate(spec, secret, public):
    if public is not None and _keypairs.certificate_matches_key(public, secret):
        return public
    return _keypairs.ca_certificate(secret, spec["common_name"], spec["days"])


def _current(spec, secret, public, deps):
    kind = spec["type"]
    if kind == "ssh":
        return secret, _keypairs.ssh_public(secret, spec["comment"])
    if kind == "wireguard":
        return secret, _keypairs.wireguard_public(secret)
    if kind == "ca":
        return secret, _ca_certificate(spec, secret, public)
    if kind == "tls":
        return secret, _certificate(spec, secret, public, deps)
    if kind == "command":
        # A lost public half cannot be derived from the secret: make both anew.
        return None if spec["public_output"] and public is None else (secret, public)
    if kind == "passlib" and not _secrets.passlib_matches(spec["scheme"], deps[spec["password_of"]][0], secret):
        return None  # a hash follows its password
    return secret, None


def current(spec, secret, public, deps, path):
    """Return (secret, public) for the stored SECRET and stored PUBLIC half, or None to make a new pair.

    Public halves that follow from the secret are derived anew; a certificate is
    issued anew for the stored key when it no longer fits its definition.
    """
    try:
        pair = _current(spec, secret, public, deps)
        return None if pair is None else _text_public(pair)
    except _secrets.SecretError as exc:
        raise _error(path, exc)
    except _keypairs.KeyPairError as exc:
        raise GenerateError("%s.generate: the stored value does not fit generator %s (%s); rotate it with microvm_rotate"
                            % (path, spec["type"], exc))
