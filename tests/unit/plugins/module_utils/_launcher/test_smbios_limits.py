# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.microvm.credentials.plugins.module_utils._launcher import smbios_limits as lim
from ansible_collections.microvm.credentials.plugins.module_utils._launcher.hypervisors import HYPERVISORS

LIMITS = dict((name, module.OEM_LIMITS) for name, module in HYPERVISORS.items())


@pytest.mark.parametrize("hypervisor", ["qemu", "cloud-hypervisor"])
def test_limit_keys_and_types(hypervisor):
    limits = LIMITS[hypervisor]
    assert sorted(limits) == ["max_string_bytes", "max_strings", "max_total_bytes"]
    for key in limits:
        assert isinstance(limits[key], int) and not isinstance(limits[key], bool) and limits[key] > 0, key


@pytest.mark.parametrize("hypervisor", ["qemu", "cloud-hypervisor"])
def test_count_field_is_one_byte(hypervisor):
    assert LIMITS[hypervisor]["max_strings"] == 255


def test_qemu_fits_smbios21_entry_point():
    # SMBIOS 2.1 entry point: 16-bit structure table length (SMBIOS_21_MAX_TABLES_LEN).
    qemu = LIMITS["qemu"]
    assert qemu["max_total_bytes"] + lim.STRUCTURE_OVERHEAD + lim.QEMU_RESERVED_BYTES == 0xFFFF
    assert lim.QEMU_RESERVED_BYTES >= 1024  # QEMU's own tables plus SeaBIOS' type 0


def test_cloud_hypervisor_fits_below_high_ram():
    # Tables start at SMBIOS_START 0xf0000, guest RAM proper at HIGH_RAM_START 0x100000.
    ch = LIMITS["cloud-hypervisor"]
    assert lim.CH_SMBIOS_AREA == 0x10000
    assert ch["max_total_bytes"] + lim.STRUCTURE_OVERHEAD + lim.CH_RESERVED_BYTES == lim.CH_SMBIOS_AREA
    # MP table (220 + 20 bytes per vCPU) for 254 vCPUs plus entry point and types 0, 1, 127.
    assert lim.CH_RESERVED_BYTES >= 220 + 20 * 254 + 24 + 40 + 62 + 6 + 16


@pytest.mark.parametrize("hypervisor", ["qemu", "cloud-hypervisor"])
def test_single_string_may_use_whole_budget(hypervisor):
    limits = LIMITS[hypervisor]
    assert limits["max_string_bytes"] == limits["max_total_bytes"]
