# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""ConfigError and the primitive validators of the configuration modules.

Apart from instances.py so that the modules instances.py uses (generator options, the
credential graph) raise the same errors without importing instances.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ConfigError(ValueError):
    """A configuration error, with the variable path that holds it."""

    def __init__(self, path, message):
        super(ConfigError, self).__init__("%s: %s" % (path, message))
        self.path = path


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _dict(path, value):
    if not isinstance(value, dict):
        raise ConfigError(path, "must be a mapping, got %s" % type(value).__name__)
    return value


def _list(path, value):
    if value is None:
        return []
    if not isinstance(value, list):
        raise ConfigError(path, "must be a list, got %s" % type(value).__name__)
    return value


def _unknown_keys(path, value, allowed):
    unknown = sorted(str(k) for k in value if k not in allowed)
    if unknown:
        raise ConfigError(path, "unknown key(s) %s; allowed: %s" % (", ".join(unknown), ", ".join(sorted(allowed))))


def _int(path, value, minimum, maximum=None):
    if not _is_int(value):
        raise ConfigError(path, "must be an integer, got %r" % (value,))
    if value < minimum or (maximum is not None and value > maximum):
        raise ConfigError(path, "must be between %d and %s, got %d" % (minimum, maximum if maximum is not None else "infinity", value))
    return value


def _bool(path, value):
    if not isinstance(value, bool):
        raise ConfigError(path, "must be true or false, got %r" % (value,))
    return value


def _choice(path, value, choices):
    if value not in choices:
        raise ConfigError(path, "must be one of %s, got %r" % (", ".join(choices), value))
    return value
