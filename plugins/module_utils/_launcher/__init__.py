# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The host launcher: everything that runs on the host outside Ansible.

Standard library and relative imports only. The role installs this folder whole;
the controller imports the same files for its checks (one copy of each rule).
"""
