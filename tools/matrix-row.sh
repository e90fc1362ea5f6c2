#!/usr/bin/env bash
# One row of the version matrix, run on a controller with the row's Python
# (this machine for Debian 12's 3.11, the trixie container for 3.13):
#
#   tools/matrix-row.sh PYTHON ANSIBLE_CORE ANSIBLE VENV_DIR
#
# PYTHON is a version (3.13): Debian's /usr/bin/pythonX.Y, or MATRIX_PYTHON_BIN.
# Makes (once) a venv with that ansible-core, then runs the unit tests and
# `ansible-test sanity` against it. The converge of the row is run by
# tools/matrix.sh, which needs podman on the machine.
set -euo pipefail
python=${1:?python} core=${2:?ansible-core} ansible=${3:?ansible} venv=${4:?venv dir}
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD

want="ansible-core==$core ansible==$ansible $(grep -E '^(pytest|pytest-testinfra|libpass|bcrypt|jmespath)==' requirements.txt | tr '\n' ' ')"
if [[ ! -x $venv/bin/python || "$(cat "$venv/.want" 2>/dev/null)" != "$want" ]]; then
    rm -rf "$venv"
    "${MATRIX_PYTHON_BIN:-/usr/bin/python$python}" -m venv "$venv"
    # shellcheck disable=SC2086  # $want is a list of requirement specifiers
    "$venv/bin/pip" install -q --disable-pip-version-check $want
    echo "$want" >"$venv/.want"
fi
export PATH=$venv/bin:$PATH
echo "== python $python, $(ansible --version | head -n1)"

pytest -q -p no:cacheprovider tests/unit

# ansible-test needs the collection at ansible_collections/NS/NAME with its own git
# index (as the Makefile's sanity target makes it).
copy=$venv/collection/ansible_collections/microvm/credentials
rm -rf "$copy" && mkdir -p "$copy"
git -c safe.directory="$root" ls-files -z --cached --others --exclude-standard |
    rsync -a --from0 --files-from=- --ignore-missing-args ./ "$copy/"
(cd "$copy" && git init -q && git add -A)
tools/sanity.sh "$copy" --python "$python" --color no
