#!/usr/bin/env bash
# Vault password client for the tests and the demo: prints a random password
# made once per checkout and kept (mode 0600) in .cache/vault-password.
# Use as ANSIBLE_VAULT_PASSWORD_FILE or --vault-password-file.
set -euo pipefail
dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.cache"
file=$dir/vault-password
if [[ ! -s $file ]]; then
    umask 077
    mkdir -p "$dir"
    tmp=$(mktemp "$dir/.vault-password.XXXXXX")
    head -c 32 /dev/urandom | base64 | tr -d '\n=' >"$tmp"
    # ln fails if another run created the file first: keep theirs.
    ln "$tmp" "$file" 2>/dev/null || true
    rm -f "$tmp"
fi
cat "$file"
