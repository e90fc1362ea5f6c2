#!/usr/bin/env bash
# Run `ansible-test sanity` (all default tests) on a copy of the collection,
# offline except for PyPI.
#
#   tools/sanity.sh COPY_DIR [ansible-test sanity options...]
#
# COPY_DIR is the collection under .../ansible_collections/microvm/credentials
# (the Makefile's `sanity` target makes it). ansible-test comes from PATH.
#
# * ansible-test builds one virtual environment per sanity test under
#   ~/.ansible/test/venv and installs its pinned requirements from the
#   configured package index (PyPI). The venvs are made without pip and pip is
#   bootstrapped with a get-pip.py that ansible-test downloads from
#   ci-files.testing.ansible.com, which is unreachable offline. ansible-test
#   uses ~/.ansible/test/cache/get_pip_X_Y.py instead when that file exists:
#   put tools/ansible-test-get-pip.py there (it seeds pip with ensurepip and
#   installs pip X.Y from the index). A real get-pip.py already in the cache is
#   left alone.
# * ANSIBLE_TEST_CONTENT_ROOT pins the content root to the copy: otherwise
#   ansible-test walks up from the copy (.build/ in the work tree) to the work
#   tree's .git, where git lists none of the copied (ignored) files.
set -euo pipefail

copy=${1:?usage: tools/sanity.sh COPY_DIR [ansible-test sanity options...]}
shift
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
shim=$here/ansible-test-get-pip.py
marker='# microvm.credentials: offline stand-in for ansible-test'

python=$(dirname "$(command -v ansible-test)")/python
pip_version=$("$python" -c '
import types
from ansible_test._internal.python_requirements import get_venv_packages
print(get_venv_packages(types.SimpleNamespace(version="3"))["pip"])
')
cache=$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py
if [ ! -e "$cache" ] || head -n1 "$cache" | grep -qF "$marker"; then
  mkdir -p "$(dirname "$cache")"
  cmp -s "$shim" "$cache" || cp "$shim" "$cache"
fi

cd "$copy"
export ANSIBLE_TEST_CONTENT_ROOT=$PWD
exec ansible-test sanity "$@"
