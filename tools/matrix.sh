#!/usr/bin/env bash
# `make matrix`: every row of tests/matrix/versions.txt gets its unit tests,
# `ansible-test sanity` and one converge of a real guest (converge, idempotent
# rerun, the guest's credentials compared with the vault), with that
# ansible-core on that Python.
#
# "bookworm" rows run on this machine with Debian 12's Python and reach the host
# container with the podman connection. "trixie" rows run their controller in a
# container of the trixie image (tools/build-host-image.sh --suite trixie),
# which reaches the host container over ssh on 127.0.0.1. "pyenv" rows run on
# this machine with a pyenv build of that Python where there is one (Debian
# packages no 3.12), and are SKIPPED elsewhere. Venvs and
# ansible-test's caches are kept in $MICROVM_CACHE/matrix; each row's output
# goes to a log there, whose tail is shown when the row fails.
#
# Usage: tools/matrix.sh [FILTER]   e.g. tools/matrix.sh 2.21  (rows whose line holds FILTER)
# Exit status: 1 when a row failed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
cache=${MICROVM_CACHE:-/var/cache/microvm-credentials}
filter=${1:-}
export MATRIX_IMAGE=${MICROVM_TRIXIE_IMAGE:-localhost/microvm-host:trixie}
mkdir -p "$cache/matrix"

# The machine's CA bundle replaces the container's, and a pip.conf points pip at it:
# pip inside (ansible-test's too, which clears the environment) must trust what this
# machine trusts (a TLS-inspecting proxy's CA, for one).
printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$cache/matrix/pip.conf"
in_trixie() {
    podman run --rm --network host --ulimit nofile=20000:20000 --ulimit nproc=4096:4096 \
        -v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro \
        -v "$cache/matrix/pip.conf:/etc/pip.conf:ro" -e HOME="$cache/matrix/home-trixie" \
        -v "$root:$root" -v "$cache/matrix:$cache/matrix" -w "$root" "$MATRIX_IMAGE" "$@"
}

pyenv_python() {
    local candidate
    for candidate in "$HOME/.pyenv/versions/$1".*/bin/"python$1"; do
        [[ -x $candidate ]] && { echo "$candidate"; return 0; }
    done
    return 1
}

# Its caller tests its status, so set -e does not apply in here; 77 is a skip.
run_row() {
    local python=$1 core=$2 ansible=$3 where=$4 venv=$5
    if [[ $where == pyenv ]]; then
        MATRIX_PYTHON_BIN=$(pyenv_python "$python") || return 77
        export MATRIX_PYTHON_BIN
    fi
    if [[ $where != trixie ]]; then
        tools/matrix-row.sh "$python" "$core" "$ansible" "$venv" || return 1
        export MICROVM_ANSIBLE_PLAYBOOK=$venv/bin/ansible-playbook MICROVM_CONNECTION=podman
    else
        in_trixie tools/matrix-row.sh "$python" "$core" "$ansible" "$venv" || return 1
        export MATRIX_VENV=$venv MICROVM_ANSIBLE_PLAYBOOK=$root/tools/matrix-playbook.sh MICROVM_CONNECTION=ssh
    fi
    MICROVM_EXPECT_CORE=$core .venv/bin/pytest -q -p no:cacheprovider tests/matrix/test_converge.py
}

summary=() failed=0
while read -r python core ansible where; do
    [[ -z $python || $python == \#* ]] && continue
    row="ansible-core $core  Python $python ($where)"
    [[ -n $filter && "$python $core $ansible $where" != *"$filter"* ]] && continue
    venv=$cache/matrix/py$python-core$core
    log=$venv.log
    echo "=== $row (log: $log)"
    status=0
    (run_row "$python" "$core" "$ansible" "$where" "$venv") >"$log" 2>&1 || status=$?
    case $status in
        0) summary+=("PASSED   $row") ;;
        77) summary+=("SKIPPED  $row: no pyenv build of Python $python here") ;;
        *) tail -n 40 "$log"; summary+=("FAILED   $row"); failed=1 ;;
    esac
done <tests/matrix/versions.txt

echo "=== matrix (unit, sanity, converge)"
printf '%s\n' "${summary[@]}"
exit "$failed"
