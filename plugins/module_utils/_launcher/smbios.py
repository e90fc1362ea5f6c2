# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""SMBIOS type 11 OEM strings that carry systemd credentials.

build_oem_strings() is the one builder: the controller runs it on the resolved
values before anything changes, the launcher on the files of $CREDENTIALS_DIRECTORY
at VM start. Names and static strings are validated once, on the controller
(plugin_utils/_schema/instances.py); here only what depends on the values is checked.
Standard library and relative imports only: it runs in the host launcher.

systemd (src/import-creds/import-creds.c, v252+) imports every OEM string of the
form ``io.systemd.credential:NAME=VALUE`` or
``io.systemd.credential.binary:NAME=BASE64`` into ``/run/credentials/@system``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64

from .smbios_limits import LIMITS

TEXT_PREFIX = "io.systemd.credential:"
BINARY_PREFIX = "io.systemd.credential.binary:"


class OemStringError(ValueError):
    """Raised for a credential or OEM string that cannot be passed to the guest.

    INDEX is the position of the one string at fault in the list checked, if one is.
    """

    def __init__(self, message, index=None):
        super(OemStringError, self).__init__(message)
        self.index = index


def _is_text(value):
    """True if VALUE survives as an SMBIOS string and a JSON string unchanged."""
    if b"\x00" in value:
        return False  # SMBIOS strings are NUL terminated
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False  # cloud-hypervisor takes OEM strings as JSON (UTF-8) text
    return True


def encode_credential(name, value, binary=None):
    """Return the OEM string for credential NAME with VALUE (bytes).

    BINARY True forces base64, False forces text (and fails for values that are not
    representable as text), None picks text when possible.
    """
    if binary is None:
        binary = not _is_text(value)
    if binary:
        return BINARY_PREFIX + name + "=" + base64.b64encode(value).decode("ascii")
    if not _is_text(value):
        raise OemStringError(
            "credential %s: value contains a NUL byte or is not UTF-8; set binary: true to pass it base64 encoded" % name)
    return TEXT_PREFIX + name + "=" + value.decode("utf-8")


def credential_name_of(oem_string):
    """Return the credential name an OEM string sets, or None for other strings."""
    for prefix in (TEXT_PREFIX, BINARY_PREFIX):
        if oem_string.startswith(prefix):
            return oem_string[len(prefix):].split("=", 1)[0]
    return None


def encoded_size(oem_string):
    """Bytes the string takes in the SMBIOS structure, NUL terminator included."""
    return len(oem_string.encode("utf-8")) + 1


def check_limits(oem_strings, hypervisor):
    """Raise OemStringError if OEM_STRINGS do not fit HYPERVISOR's SMBIOS tables."""
    limits = LIMITS[hypervisor]
    count = len(oem_strings)
    if count > limits["max_strings"]:
        raise OemStringError("%d OEM strings, %s accepts at most %d" % (count, hypervisor, limits["max_strings"]))
    for index, oem_string in enumerate(oem_strings):
        size = encoded_size(oem_string)
        if size > limits["max_string_bytes"]:
            name = credential_name_of(oem_string)
            what = ("credential %s" % name) if name else "a static OEM string"
            raise OemStringError("%s takes %d bytes as an OEM string, %s accepts at most %d"
                                 % (what, size, hypervisor, limits["max_string_bytes"]), index)
    total = sum(encoded_size(s) for s in oem_strings)
    if total > limits["max_total_bytes"]:
        raise OemStringError("OEM strings take %d bytes in all, %s accepts at most %d"
                             % (total, hypervisor, limits["max_total_bytes"]))


def build_oem_strings(credentials, static_strings, hypervisor):
    """The OEM strings of one guest: CREDENTIALS, (name, value bytes, binary) each, then STATIC_STRINGS.

    Raises OemStringError whose index is the position of the culprit in CREDENTIALS
    followed by STATIC_STRINGS (None when only all of them together are at fault), so
    that each caller can name it in its own terms.
    """
    strings = []
    for index, (name, value, binary) in enumerate(credentials):
        try:
            strings.append(encode_credential(name, value, binary))
        except OemStringError as exc:
            raise OemStringError(str(exc), index)
    strings.extend(static_strings)
    check_limits(strings, hypervisor)
    return strings
