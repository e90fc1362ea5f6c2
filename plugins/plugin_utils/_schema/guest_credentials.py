# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The system credentials a guest's systemd consumes, and from which release.

The one table of them: validation warns from it (an instance's optional
``guest_systemd`` older than a credential needs), and the README's table of
well-known credentials is checked against it (tests/unit). Names and versions
are those of systemd.system-credentials(7) ("Added in version N"), confirmed in
the Debian 12 (systemd 252) and Debian 13 (systemd 257) guests' binaries.
Credentials documented as older than 252 count as 252: no earlier release imports
SMBIOS type 11 credentials at all. Left out: cryptsetup.passphrase and the
cryptsetup.*-pin names, which the page dates 256 while Debian 12's
systemd-cryptsetup (252) already holds them; no warning is better than a wrong one.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# The first guest systemd that imports SMBIOS type 11 OEM strings as credentials.
SMBIOS_IMPORT_VERSION = 252

# (name, or a prefix ending in '.*'; first systemd release that reads it; what reads it)
WELL_KNOWN = (
    ("firstboot.keymap", 252, "systemd-firstboot"),
    ("firstboot.locale", 252, "systemd-firstboot"),
    ("firstboot.locale-messages", 252, "systemd-firstboot"),
    ("firstboot.timezone", 252, "systemd-firstboot"),
    ("login.issue", 252, "tmpfiles.d/provision.conf"),
    ("login.motd", 252, "tmpfiles.d/provision.conf"),
    ("network.hosts", 252, "tmpfiles.d/provision.conf"),
    ("passwd.hashed-password.root", 252, "systemd-firstboot, systemd-sysusers"),
    ("passwd.plaintext-password.root", 252, "systemd-firstboot, systemd-sysusers"),
    ("passwd.shell.root", 252, "systemd-firstboot, systemd-sysusers"),
    ("ssh.authorized_keys.root", 252, "tmpfiles.d/provision.conf"),
    ("sysctl.extra", 252, "systemd-sysctl"),
    ("sysusers.extra", 252, "systemd-sysusers"),
    ("tmpfiles.extra", 252, "systemd-tmpfiles"),
    ("network.dns", 253, "systemd-resolved"),
    ("network.search_domains", 253, "systemd-resolved"),
    ("vconsole.keymap", 253, "systemd-vconsole-setup"),
    ("vconsole.keymap_toggle", 253, "systemd-vconsole-setup"),
    ("vconsole.font", 253, "systemd-vconsole-setup"),
    ("vconsole.font_map", 253, "systemd-vconsole-setup"),
    ("vconsole.font_unimap", 253, "systemd-vconsole-setup"),
    ("vmm.notify_socket", 253, "systemd (PID 1)"),
    ("fstab.extra", 254, "systemd-fstab-generator"),
    ("getty.ttys.serial", 254, "systemd-getty-generator"),
    ("getty.ttys.container", 254, "systemd-getty-generator"),
    ("system.hostname", 254, "systemd (PID 1)"),
    ("system.machine_id", 254, "systemd (PID 1)"),
    ("home.create.*", 256, "homectl"),
    ("journal.forward_to_socket", 256, "systemd-journald"),
    ("journal.storage", 256, "systemd-journald"),
    ("network.conf.*", 256, "systemd-network-generator"),
    ("network.link.*", 256, "systemd-network-generator"),
    ("network.netdev.*", 256, "systemd-network-generator"),
    ("network.network.*", 256, "systemd-network-generator"),
    ("network.wireguard.*", 256, "systemd-networkd"),
    ("ssh.listen", 256, "systemd-ssh-generator"),
    ("systemd.extra-unit.*", 256, "systemd-debug-generator"),
    ("systemd.unit-dropin.*", 256, "systemd-debug-generator"),
    ("udev.conf.*", 256, "systemd-udev-load-credentials"),
    ("udev.rules.*", 256, "systemd-udev-load-credentials"),
    ("import.pull", 257, "systemd-import-generator"),
    ("shell.prompt.prefix", 257, "pam_systemd"),
    ("shell.prompt.suffix", 257, "pam_systemd"),
    ("shell.welcome", 257, "pam_systemd"),
    ("home.add-signing-key.*", 258, "homectl"),
    ("home.register.*", 258, "homectl"),
    ("userdb.group.*", 258, "systemd-userdb-load-credentials"),
    ("userdb.user.*", 258, "systemd-userdb-load-credentials"),
)


def _matches(pattern, name):
    if pattern.endswith(".*"):
        return name.startswith(pattern[:-1]) and len(name) > len(pattern) - 1
    return name == pattern


def required_version(name):
    """(entry name, first systemd release that reads credential NAME), or None for a name systemd does not read."""
    for pattern, version, dummy in WELL_KNOWN:
        if _matches(pattern, name):
            return pattern, version
    return None


def version_warnings(guest_systemd, names):
    """Warnings for the credentials NAMES ({name: variable path}) that guest systemd GUEST_SYSTEMD does not read yet.

    Each names the variable that sets the credential and the release it needs. No
    warning without a declared version: the guest may be anything.
    """
    if guest_systemd is None:
        return []
    warnings = []
    for name, path in sorted(names.items(), key=lambda item: item[1]):
        found = required_version(name)
        if found is not None and found[1] > guest_systemd:
            warnings.append("%s: credential %s needs guest systemd %d or later (%s in systemd.system-credentials(7)); "
                            "this instance's guest_systemd is %d, so the guest ignores it"
                            % (path, name, found[1], found[0], guest_systemd))
    return warnings
