# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""SMBIOS type 11 (OEM strings) limits of the supported hypervisors.

Pure data, standard library only: part of the host launcher package.

How the numbers are counted
---------------------------

Both hypervisors build ONE type 11 structure from the list of OEM strings:

    formatted area   5 bytes   type (11), length (5), handle (2 bytes), count (1 byte)
    string set       for every string: its bytes + 1 NUL terminator
    set terminator   1 byte    the extra NUL that ends the string set

* ``max_string_bytes``: bytes of ONE string in the string set, NUL terminator
  included, i.e. ``len(s.encode("utf-8")) + 1``.
* ``max_total_bytes``: bytes of the whole string set, i.e. the sum of
  ``len(s.encode("utf-8")) + 1`` over all strings.  The 5-byte formatted area
  and the final NUL are NOT part of it: they are already subtracted from the
  budget below (see ``STRUCTURE_OVERHEAD``), so a caller only sums its strings.
* ``max_strings``: number of strings (the ``count`` field is one byte).

Every string needs at least one byte besides its NUL: an empty string would be a
double NUL, which ends the string set (the controller refuses empty strings).

The budget of the whole type 11 structure is the space the hypervisor has for
ALL its SMBIOS tables minus a reserve for the tables it (and the firmware) add
around ours; see the comments at each value.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# Formatted area (type, length, 2-byte handle, count) plus the final NUL of the
# string set.  QEMU: struct smbios_type_11 in include/hw/firmware/smbios.h is
# {header (4 bytes), uint8_t count}; SMBIOS_BUILD_TABLE_POST (hw/smbios/smbios_build.h)
# appends one NUL after a non-empty string set.  cloud-hypervisor:
# SmbiosOemStrings {type, length, handle: u16, count: u8} and
# write_string_terminator(.., has_strings=true) in arch/src/x86_64/smbios.rs.
FORMATTED_AREA = 5
STRUCTURE_OVERHEAD = FORMATTED_AREA + 1

# The count field is a uint8_t in both hypervisors and neither checks the number
# of strings: QEMU does ``t->count = type11.nvalues`` (smbios_build_type_11_table,
# hw/smbios/smbios.c) and cloud-hypervisor ``count: oem_strings.len() as u8``
# (setup_smbios, arch/src/x86_64/smbios.rs), so a 256th string silently wraps
# the count.  SMBIOS string references are one byte as well.
MAX_STRINGS = 255

# --- QEMU -----------------------------------------------------------------
#
# Entry point: in QEMU 7.2 every pc/q35 machine builds an SMBIOS 2.1 (32-bit,
# "_SM_") entry point: pc_machine_initfn() in hw/i386/pc.c sets
# smbios_entry_point_type = SMBIOS_ENTRY_POINT_TYPE_32.  The per-machine default
# (pcmc->default_smbios_ep_type) came in 8.1 (64-bit for pc-q35-8.1 and later,
# pc_q35_8_0_machine_options() keeps 32-bit for older machine types) and
# SMBIOS_ENTRY_POINT_TYPE_AUTO in 9.0.  The 2.1 entry point's "structure table
# length" and "max structure size" are 16-bit fields, so ALL tables together are
# limited to 0xffff bytes: smbios_validate_table() in hw/smbios/smbios.c exits
# with "SMBIOS 2.1 table length %zu exceeds %d" (SMBIOS_21_MAX_TABLES_LEN 0xffff),
# and qemu-options.hx (-smbios type=11) says "on the x86 architecture, the total
# size of all SMBIOS tables is limited to 65535 bytes".  The 2.1 limit is also
# the safe one for newer QEMU, where the entry point depends on the machine type.
QEMU_SMBIOS21_TABLES_MAX = 0xFFFF

# Reserve for every other table.  QEMU itself adds types 1, 3, 4 (one per
# socket), 16, 17 (one per 16 GiB), 19, 32 and 127: about 350 bytes for one
# socket (smbios_get_tables(), hw/smbios/smbios.c).  SeaBIOS, the default q35
# firmware used for -kernel boot, then prepends its own type 0 (~90 bytes) to the
# QEMU tables without checking that the 16-bit length still fits
# (smbios_romfile_setup(), src/fw/biostables.c; Daniel Berrange's commit message
# adding SMBIOS_21_MAX_TABLES_LEN names this SeaBIOS bug).  4 KiB leaves room for
# that and for ~50 sockets.
QEMU_RESERVED_BYTES = 4096

# Per string: QEMU has no limit of its own.  With path=FILE it reads the whole
# file in 4096-byte chunks and fails on a NUL byte ("NUL in OEM strings value in
# %s", save_opt_one(), hw/smbios/smbios.c).  An EMPTY value is dropped by
# SMBIOS_TABLE_SET_STR_LIST (len > 1 test) while count still counts it: the
# guest then sees a count that does not match the strings.  Firmware: edk2
# (OVMF, -bios) GetSmbiosStructureSize() in MdeModulePkg/Universal/SmbiosDxe
# limits a string to 64 characters only for SMBIOS < 2.7; QEMU announces 2.8.
_QEMU_STRUCTURE_MAX = QEMU_SMBIOS21_TABLES_MAX - QEMU_RESERVED_BYTES

# --- cloud-hypervisor -----------------------------------------------------
#
# setup_smbios() in arch/src/x86_64/smbios.rs writes a 24-byte SMBIOS 3.0
# ("_SM3_") entry point at SMBIOS_START = 0xf0000 (arch/src/x86_64/layout.rs)
# followed by types 0, 1, 11 and 127, with no bound check: only guest memory
# limits the writes.  The next region, HIGH_RAM_START = 0x100000, is ordinary
# guest RAM (E820), so tables past it would silently overlap memory the guest
# kernel uses.  The area is therefore 0x100000 - 0xf0000 = 64 KiB.
CH_SMBIOS_AREA = 0x100000 - 0xF0000

# Reserve for the rest of the area: entry point (24 bytes), type 0 (~40 bytes),
# type 1 (~62 bytes without serial number), type 127 (6 bytes), 16-byte
# alignment, and the MP table configure_system() (arch/src/x86_64/mod.rs) places
# right after the SMBIOS tables: compute_mp_size() in arch/src/x86_64/mptable.rs
# is 220 + 20 bytes per vCPU, ~5.3 KiB for 254 vCPUs (when it does not fit below
# HIGH_RAM_START newer releases skip the MP table with a warning).  8 KiB covers
# all of that.
CH_RESERVED_BYTES = 8192

# Per string: none besides the area.  The strings arrive as JSON strings
# (PlatformConfig.oem_strings in vmm/src/api/openapi/cloud-hypervisor.yaml), so
# they must be valid UTF-8; write_string() copies the bytes and appends a NUL
# without checking for embedded NULs, and an empty string becomes a bare NUL,
# i.e. an early end of the string set.
_CH_STRUCTURE_MAX = CH_SMBIOS_AREA - CH_RESERVED_BYTES


def _limits(structure_max):
    string_set_max = structure_max - STRUCTURE_OVERHEAD
    return {
        "max_strings": MAX_STRINGS,
        # One string alone may use the whole string set.
        "max_string_bytes": string_set_max,
        "max_total_bytes": string_set_max,
    }


# QEMU 7.2, machine q35, SMBIOS 2.1 (32-bit, _SM_) entry point; path= reads raw
# bytes (the launcher writes UTF-8 text).
QEMU_LIMITS = _limits(_QEMU_STRUCTURE_MAX)
# SMBIOS 3.0 (64-bit, _SM3_) entry point; the strings travel as JSON (UTF-8).
CLOUD_HYPERVISOR_LIMITS = _limits(_CH_STRUCTURE_MAX)
