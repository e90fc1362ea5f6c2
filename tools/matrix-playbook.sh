#!/usr/bin/env bash
# ansible-playbook of a matrix row whose controller Python lives in the trixie
# container: the same paths (work tree, /tmp, the row's venv) and the ANSIBLE_*
# environment and PYTHONWARNINGS, host networking to reach the host container's sshd on 127.0.0.1.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
exec podman run --rm --network host --ulimit nofile=20000:20000 --ulimit nproc=4096:4096 --env 'ANSIBLE_*' --env PYTHONWARNINGS \
    -v "$root:$root" -v /tmp:/tmp -v "${MATRIX_VENV:?}:$MATRIX_VENV" -w "$PWD" \
    "${MATRIX_IMAGE:?}" "$MATRIX_VENV/bin/ansible-playbook" "$@"
