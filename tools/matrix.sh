#!/usr/bin/env bash
# The version matrix (`make matrix`): unit tests and `ansible-test sanity` for
# each supported ansible-core release on each controller Python it supports.
#
#   tools/matrix.sh COPY_DIR [CORE:PYTHON ...]
#
# COPY_DIR is the collection copy that `make sanity` uses. Without CORE:PYTHON
# pairs, MATRIX below is run. Each pair gets its own venv under .build/matrix
# with the newest ansible-core CORE.* and the test tools pinned in
# requirements.txt; its output goes to a log beside the venv (the tail is shown
# when it fails). A Python that is not on this machine (pythonX.Y on PATH,
# or a pyenv build under ~/.pyenv/versions) is reported as SKIPPED; Debian 12
# has only 3.11, and ansible-core 2.20 and later need 3.12 or newer.
# Exit status: 1 when a run failed, 0 otherwise (skips included).
set -euo pipefail

# ansible-core releases upstream still supports, and their controller Pythons.
MATRIX=(2.19:3.11 2.19:3.12 2.19:3.13 2.20:3.12 2.20:3.13 2.21:3.12 2.21:3.13)

copy=${1:?usage: tools/matrix.sh COPY_DIR [CORE:PYTHON ...]}
shift
[ $# -gt 0 ] && MATRIX=("$@")
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venvs=$root/.build/matrix
mkdir -p "$venvs"
# The unit tests' own needs, at the versions `make venv` installs.
tools=$(grep -E '^(pytest|libpass|jmespath)==' "$root/requirements.txt")

# pyenv's shim for pythonX.Y may be on PATH and fail: take the first candidate that runs as X.Y.
find_python() {
  local version=$1 candidate candidates
  candidates=("$HOME/.pyenv/versions/$version".*/bin/"python$version")
  if candidate=$(command -v "python$version"); then
    candidates=("$candidate" "${candidates[@]}")
  fi
  for candidate in "${candidates[@]}"; do
    if [ "$("$candidate" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" = "$version" ]; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

# Its caller tests its status, so set -e is off in here: each step returns 1 itself.
run_pair() {
  local core=$1 version=$2 python venv
  python=$(find_python "$version") || return 77
  venv=$venvs/ansible-core-$core-py$version
  [ -x "$venv/bin/python" ] || "$python" -m venv "$venv" || return 1
  # shellcheck disable=SC2086  # one requirement per word
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "ansible-core==$core.*" $tools || return 1
  "$venv/bin/python" -c 'import sys, ansible.release; print("ansible-core", ansible.release.__version__, "Python", sys.version.split()[0])'
  (cd "$root" && "$venv/bin/python" -m pytest -q -p no:cacheprovider tests/unit) || return 1
  PATH=$venv/bin:$PATH "$root/tools/sanity.sh" "$copy" --python "$version" --color no || return 1
}

declare -a summary
failed=0
for pair in "${MATRIX[@]}"; do
  core=${pair%%:*} version=${pair##*:}
  log=$venvs/ansible-core-$core-py$version.log
  echo "=== ansible-core $core, Python $version (log: $log)"
  status=0
  run_pair "$core" "$version" >"$log" 2>&1 || status=$?
  [ "$status" = 0 ] || [ "$status" = 77 ] || tail -n 40 "$log"
  case $status in
    0) summary+=("PASSED   ansible-core $core  Python $version") ;;
    77) summary+=("SKIPPED  ansible-core $core  Python $version (no python$version here)") ;;
    *) summary+=("FAILED   ansible-core $core  Python $version") && failed=1 ;;
  esac
done

echo "=== matrix (unit + sanity)"
printf '%s\n' "${summary[@]}"
exit "$failed"
