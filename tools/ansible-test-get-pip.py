# microvm.credentials: offline stand-in for ansible-test's get-pip bootstrap.
"""Bootstrap pip into an empty virtual environment without get-pip.py.

ansible-test creates each sanity test's virtual environment with
``--without-pip`` and then runs a get-pip.py script that it downloads from
https://ci-files.testing.ansible.com/, which is unreachable here (only PyPI
and the Debian mirrors are). When ``~/.ansible/test/cache/get_pip_X_Y.py``
exists, ansible-test uses that file instead of downloading it (see
ansible_test/_util/target/setup/requirements.py, ``bootstrap``), and
tools/sanity.sh puts this script there.

It is called as get-pip.py would be:

    python get_pip_X_Y.py --disable-pip-version-check pip==X.Y [--no-setuptools] [--no-wheel]

It seeds pip from the standard library (``ensurepip``: the wheel bundled with
Python, or on Debian the one from python3-venv) and then lets that pip
install the requested packages from the configured index (PyPI).
"""

import os
import subprocess
import sys


def main(argv):
    no_setuptools = '--no-setuptools' in argv
    no_wheel = '--no-wheel' in argv
    pip_args = [arg for arg in argv if arg not in ('--no-setuptools', '--no-wheel')]

    subprocess.check_call([sys.executable, '-m', 'ensurepip', '--default-pip'])
    subprocess.check_call([sys.executable, '-m', 'pip', 'install'] + pip_args)

    # ensurepip also brings setuptools on Python < 3.12; get-pip.py would not.
    unwanted = []
    if no_setuptools:
        unwanted.append('setuptools')
    if no_wheel:
        unwanted.append('wheel')
    for name in unwanted:
        # Not installed is fine: pip only warns and exits 0.
        subprocess.check_call([sys.executable, '-m', 'pip', 'uninstall', '-y', '-q', name],
                              env=dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK='1'))


if __name__ == '__main__':
    main(sys.argv[1:])
