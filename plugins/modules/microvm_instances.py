#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to microvm.credentials
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: microvm_instances
short_description: Install the launcher, configure, start and restart all microVM instances of a host in one call
version_added: 0.1.0
description:
  - Installs the host launcher, all of it in one step. The launcher package (the collection's
    C(plugins/module_utils/_launcher) folder, read back from this module's own payload) in
    C(LIB_DIR/LAUNCHER_PACKAGE/), with anything else in that folder removed. The launcher script O(launcher_script)
    at O(launcher). The unit templates O(units) in O(unit_dir). It also makes the collection's directories
    (O(lib_dir), O(config_dir), O(virtiofs_dir), the launcher's directory) root-owned with their modes.
  - Declares, for every instance, a static system user and group C(microvm-NAME) in group C(kvm) in
    C(SYSUSERS_DIR/microvm-credentials.conf) and creates them with C(systemd-sysusers); the instance's
    hypervisor runs as that user.
  - Writes, for every instance, the launcher configuration C(CONFIG_DIR/NAME.json) (root:microvm-NAME 0640),
    the unit drop-in C(microvm@NAME.service.d/50-microvm-credentials.conf) with its C(LoadCredentialEncrypted=)
    lines and the sandbox settings that depend on the instance, and for each share the virtiofsd configuration
    and the drop-in C(microvm-virtiofsd@NAME:TAG.service.d/50-microvm-credentials.conf) that runs virtiofsd as
    C(microvm-NAME).
    Files are written atomically and only when their content, mode, owner or group differs.
  - Gives each existing disk image to its instance's user, mode 0600, and each existing share directory, mode 0700
    (its contents stay as they are). A disk listed by two instances, or a share directory inside another
    instance's, is an error.
  - Reloads systemd when a unit file changed, enables and starts instances with C(autostart), and
    restarts running instances whose files changed, that are listed in O(restart), or that became active
    before one of their credential files C(CREDENTIAL_DIRECTORY/NAME/CREDENTIAL.cred) was last written
    (for example by the role's C(credentials) entry point alone, which restarts nothing). The unit states
    and start times come from one C(systemctl show) for all instances.
  - With O(purge), stops, disables and removes the files and the user of instances no longer configured.
  - One call handles the launcher and every instance of the host, so a converge makes the same number of
    round trips whatever the number of instances.
  - The options are internal to the C(microvm.credentials.microvm) role, which passes every path from its vars.
author:
  - microvm.credentials maintainers (!UNKNOWN)
attributes:
  check_mode:
    support: full
    description: Reports the directories, files, starts, restarts (with their reasons) and purges that would happen, without doing them.
  diff_mode:
    support: full
    description: Shows the content of the changed files and the mode of the changed directories; they hold no secret.
requirements:
  - systemd on the host.
options:
  instances:
    description:
      - Normalised instances, as returned by the P(microvm.credentials.instances_config#filter) filter.
      - Unset, the host's C(microvm_instances) through that filter (the role's task leaves it unset). This costs
        less than the filter in the task's arguments, whose templating copies every instance and credential.
    type: list
    elements: dict
  restart:
    description: Instances to restart if they run, for example those whose credentials changed.
    type: list
    elements: str
    default: []
  start:
    description: Enable and start instances whose C(autostart) is true.
    type: bool
    default: true
  purge:
    description: Stop, disable and remove instances that have a configuration file but are no longer listed.
    type: bool
    default: true
  header:
    description: Comment placed at the top of every per-instance file written (for example C(ansible_managed)).
    type: str
    default: ""
  lib_dir:
    description: Directory that holds the launcher package.
    version_added: 0.2.0
    type: path
    required: true
  launcher_package:
    description: Name of the launcher package in O(lib_dir), as the launcher script imports it.
    version_added: 0.2.0
    type: str
    required: true
  launcher:
    description: Path of the launcher script, run by the units (as root to create tap devices).
    version_added: 0.2.0
    type: path
    required: true
  launcher_script:
    description:
      - Content of the launcher script (rendered on the controller).
      - Required unless O(templates) names its template.
    version_added: 0.2.0
    type: str
  units:
    description:
      - Unit templates to install in O(unit_dir), file name to content (rendered on the controller).
      - Required unless O(templates) names them.
    version_added: 0.2.0
    type: dict
  templates:
    description:
      - Templates the action renders on the controller into O(launcher_script) (key C(launcher_script), a template
        name) and O(units) (key C(units), unit file name to template name), found and rendered as the
        C(ansible.builtin.template) lookup does, with the task's variables.
      - Unlike that lookup, the action does not deep-copy every variable of the host for each template (a cost that
        grows with the number of instances and credentials); it copies them shallowly, as the C(ansible.builtin.template)
        action does.
    version_added: 0.2.0
    type: dict
  config_dir:
    description: Directory of the launcher's per-instance configuration.
    type: path
    required: true
  virtiofs_dir:
    description: Directory of the per-share virtiofsd configuration.
    type: path
    required: true
  unit_dir:
    description: Directory of the unit templates and drop-ins.
    type: path
    required: true
  sysusers_dir:
    description: Directory of the C(systemd-sysusers) file that declares the instances' users.
    version_added: 0.2.0
    type: path
    required: true
  credential_directory:
    description: Host directory of the encrypted credential store.
    type: path
    required: true
"""

EXAMPLES = r"""
- name: Configure and start the microVMs
  microvm.credentials.microvm_instances:
    restart: "{{ creds.changed_instances }}"
    header: "{{ ansible_managed }}"
    lib_dir: /usr/lib/microvm-credentials
    launcher_package: microvm_launcher
    launcher: /usr/libexec/microvm-credentials/microvm-launch
    launcher_script: "{{ lookup('ansible.builtin.template', 'microvm-launch.j2') }}"
    units:
      microvm@.service: "{{ lookup('ansible.builtin.template', 'microvm@.service.j2') }}"
    config_dir: /etc/microvm-credentials/instances
    virtiofs_dir: /etc/microvm-credentials/virtiofs
    unit_dir: /etc/systemd/system
    sysusers_dir: /etc/sysusers.d
    credential_directory: /var/lib/microvm-credentials
"""

RETURN = r"""
directories:
  description: The collection's directories created or given back their owner and mode.
  returned: always
  version_added: 0.2.0
  type: list
  elements: str
written:
  description: Files written.
  returned: always
  type: list
  elements: str
chowned:
  description: Disk images (mode 0600) and share directories (mode 0700) given to their instance's user.
  returned: always
  version_added: 0.2.0
  type: list
  elements: str
removed:
  description: Files removed with purged instances, and entries of the launcher package folder that are not part of it.
  returned: always
  type: list
  elements: str
started:
  description: Instances started.
  returned: always
  type: list
  elements: str
restarted:
  description: Instances restarted.
  returned: always
  type: list
  elements: str
restart_reasons:
  description:
    - Why each instance of RV(restarted) was restarted. C(files) when its files changed, C(requested) when
      O(restart) lists it, C(credentials) when it became active before a credential file was last written.
  returned: always
  version_added: 0.2.0
  type: dict
  sample: {web: credentials}
purged:
  description: Instances stopped, disabled and removed, with their users.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.microvm.credentials.plugins.module_utils._host.converge import converge


def main():
    module = AnsibleModule(
        argument_spec=dict(
            instances=dict(type="list", elements="dict"),  # the action sets it when the task does not
            restart=dict(type="list", elements="str", default=[]),
            start=dict(type="bool", default=True),
            purge=dict(type="bool", default=True),
            header=dict(type="str", default=""),
            lib_dir=dict(type="path", required=True),
            launcher_package=dict(type="str", required=True),
            launcher=dict(type="path", required=True),
            launcher_script=dict(type="str"),
            units=dict(type="dict"),
            templates=dict(type="dict"),  # rendered by the action into launcher_script and units
            config_dir=dict(type="path", required=True),
            virtiofs_dir=dict(type="path", required=True),
            unit_dir=dict(type="path", required=True),
            sysusers_dir=dict(type="path", required=True),
            credential_directory=dict(type="path", required=True),
        ),
        required_together=[("launcher_script", "units")],
        supports_check_mode=True,
    )
    if module.params["launcher_script"] is None:
        module.fail_json(msg="launcher_script and units are required, or templates that name theirs")
    converge(module)


if __name__ == "__main__":
    main()
