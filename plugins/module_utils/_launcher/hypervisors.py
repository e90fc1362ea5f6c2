# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The hypervisors, by the name used in ``microvm_instances.NAME.hypervisor``: the one table.

Nothing outside a hypervisor's module asks which hypervisor it is; it asks the module.
Each module implements the same interface:

  NAME, DEFAULT_BINARY, DEFAULT_MACHINE   its name here, executable, and machine default
  OEM_LIMITS                             what its SMBIOS type 11 structure holds (smbios_limits)
  Error                                  the exception its control socket raises
  version_problem(first line of BINARY --version)   None, or why this binary is refused
  machine_problem(machine), disk_problem(disk)      what the controller refuses (None: fine)
  resolve_accel(accel, kvm_probe)        kvm or tcg, decided once on the host
  sandbox_lines(instance)                its own lines of the unit's sandbox
  exec_argv(instance, binary, read_oem_strings)     the argv the launcher becomes
  ready(api_socket)                      True once it answers on its control socket
  boot(instance, read_oem_strings)       what follows ready: hand over the OEM strings, boot
  stop(api_socket, alive, wait, timeout) a graceful power-off

READ_OEM_STRINGS() returns the instance's OEM strings, its credentials included: a module
calls it only where the strings leave for the hypervisor. A new hypervisor is one module
and one entry below. Standard library and relative imports only: the launcher runs it on
the host.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from . import cloud_hypervisor, qemu

HYPERVISORS = dict((module.NAME, module) for module in (qemu, cloud_hypervisor))
DEFAULT = cloud_hypervisor.NAME
# Every control-socket error: the launcher treats them alike.
ERRORS = tuple(module.Error for module in HYPERVISORS.values())


def of(instance):
    """The module of a normalised INSTANCE's hypervisor."""
    return HYPERVISORS[instance["hypervisor"]]


def binary_of(instance):
    """The hypervisor binary a normalised INSTANCE runs: its own, or its hypervisor's default."""
    return instance.get("binary") or of(instance).DEFAULT_BINARY
