# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""SMBIOS type 11 OEM strings that carry systemd credentials.

Pure code shared by the controller (validation before anything changes) and the
host launcher (encoding at VM start). Standard library and relative imports only:
the host role copies this file verbatim next to the launcher.

systemd (src/import-creds/import-creds.c, v252+) imports every OEM string of the
form ``io.systemd.credential:NAME=VALUE`` or
``io.systemd.credential.binary:NAME=BASE64`` into ``/run/credentials/@system``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import re

from .smbios_limits import LIMITS

TEXT_PREFIX = "io.systemd.credential:"
BINARY_PREFIX = "io.systemd.credential.binary:"

# systemd accepts any printable ASCII except '/' and ':' (credential_name_valid());
# we accept a stricter set because the name also appears unescaped in unit files
# (LoadCredentialEncrypted=NAME:PATH), where '%', '\\', spaces and quotes have meaning.
# fullmatch, never match with '$': '$' also matches before a final newline.
_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._@+-]*")
# The host module writes each credential through a temporary file named
# "." + NAME + ".cred." + 8 random characters + ".tmp" (tempfile.mkstemp).
HOST_TMP_EXTRA = len(".") + len(".cred.") + 8 + len(".tmp")
FILE_NAME_MAX = 255  # bytes of one path component (Linux NAME_MAX)
# The temporary name, not NAME.cred, is the longest file name on the host.
NAME_MAX = FILE_NAME_MAX - HOST_TMP_EXTRA


class OemStringError(ValueError):
    """Raised for a credential or OEM string that cannot be passed to the guest.

    INDEX is the position of the one string at fault in the list checked, if one is.
    """

    def __init__(self, message, index=None):
        super(OemStringError, self).__init__(message)
        self.index = index


def validate_credential_name(name):
    """Raise OemStringError unless NAME is a credential name safe in units and SMBIOS."""
    if not isinstance(name, str) or not name:
        raise OemStringError("credential name must be a non-empty string")
    if len(name) > NAME_MAX:
        raise OemStringError("credential name is %d characters long, at most %d are allowed" % (len(name), NAME_MAX))
    if name in (".", "..") or not _NAME_RE.fullmatch(name):
        raise OemStringError(
            "credential name %r is not valid: use letters, digits and '._@+-', not starting with '.', '@', '+' or '-'" % name)


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
    validate_credential_name(name)
    if not isinstance(value, bytes):
        raise OemStringError("credential %s: value must be bytes" % name)
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


def validate_static_string(oem_string):
    """Raise OemStringError unless OEM_STRING can be an SMBIOS string."""
    if not isinstance(oem_string, str):
        raise OemStringError("OEM string must be a string, got %s" % type(oem_string).__name__)
    if not oem_string:
        raise OemStringError("OEM string must not be empty (an empty SMBIOS string ends the string set)")
    # Other control characters stay allowed: an SMBIOS string ends only at NUL, systemd
    # takes a credential's value verbatim (a PEM file has newlines), QEMU's path= reads
    # the bytes as they are and cloud-hypervisor gets a JSON string.
    if "\x00" in oem_string:
        raise OemStringError("OEM string must not contain a NUL character")
    name = credential_name_of(oem_string)
    if name is not None:
        validate_credential_name(name)


def encoded_size(oem_string):
    """Bytes the string takes in the SMBIOS structure, NUL terminator included."""
    return len(oem_string.encode("utf-8")) + 1


def check_limits(oem_strings, hypervisor):
    """Raise OemStringError if OEM_STRINGS do not fit HYPERVISOR's SMBIOS tables."""
    try:
        limits = LIMITS[hypervisor]
    except KeyError:
        raise OemStringError("unknown hypervisor %r" % hypervisor)
    count = len(oem_strings)
    if limits.get("max_strings") is not None and count > limits["max_strings"]:
        raise OemStringError("%d OEM strings, %s accepts at most %d" % (count, hypervisor, limits["max_strings"]))
    if limits.get("max_string_bytes") is not None:
        for index, oem_string in enumerate(oem_strings):
            size = encoded_size(oem_string)
            if size > limits["max_string_bytes"]:
                name = credential_name_of(oem_string)
                what = ("credential %s" % name) if name else "a static OEM string"
                raise OemStringError("%s takes %d bytes as an OEM string, %s accepts at most %d"
                                     % (what, size, hypervisor, limits["max_string_bytes"]), index)
    if limits.get("max_total_bytes") is not None:
        total = sum(encoded_size(s) for s in oem_strings)
        if total > limits["max_total_bytes"]:
            raise OemStringError("OEM strings take %d bytes in all, %s accepts at most %d"
                                 % (total, hypervisor, limits["max_total_bytes"]))


def check_unique(oem_strings):
    """Raise OemStringError if two OEM strings set the same credential."""
    seen = set()
    for index, oem_string in enumerate(oem_strings):
        name = credential_name_of(oem_string)
        if name is None:
            continue
        if name in seen:
            raise OemStringError("credential %s is set twice (a static OEM string collides with a credential?)" % name, index)
        seen.add(name)
