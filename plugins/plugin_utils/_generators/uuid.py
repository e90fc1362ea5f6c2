# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""``generate.type: uuid``: a random RFC 4122 version 4 UUID.

``format: text`` (the default) gives the 36-character form with hyphens, ``format:
hex`` the 32 hex digits alone. Its 122 random bits come from os.urandom.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import uuid

from ansible_collections.microvm.credentials.plugins.plugin_utils._generators.kind import Kind
from ansible_collections.microvm.credentials.plugins.plugin_utils._schema.checks import _choice

FORMATS = {"text": 36, "hex": 32}


class Uuid(Kind):
    NAME = "uuid"
    KEYS = frozenset(("type", "format"))

    def normalize(self, path, spec, cred_id):
        return {"format": _choice(path + ".format", spec.get("format", "text"), tuple(sorted(FORMATS, reverse=True)))}

    def make(self, spec, deps, path):
        value = uuid.uuid4()
        return (value.hex if spec["format"] == "hex" else str(value)).encode("ascii"), None

    def generated_length(self, spec):
        return "format", FORMATS[spec["format"]]


KINDS = (Uuid(),)
