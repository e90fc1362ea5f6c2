# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The hypervisors, by the name used in ``microvm_instances.NAME.hypervisor``.

Each module has the same interface where the launcher and the controller's checks
meet: DEFAULT_BINARY and version_problem(first line of ``BINARY --version``).
Standard library and relative imports only: the launcher runs it on the host.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from . import cloud_hypervisor, qemu

HYPERVISORS = {"qemu": qemu, "cloud-hypervisor": cloud_hypervisor}


def binary_of(instance):
    """The hypervisor binary a normalised INSTANCE runs: its own, or its hypervisor's default."""
    return instance.get("binary") or HYPERVISORS[instance["hypervisor"]].DEFAULT_BINARY
