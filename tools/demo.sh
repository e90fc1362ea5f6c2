#!/usr/bin/env bash
# The demo (`make demo`): a systemd host container runs playbooks/site.yml with the
# example inventory; a QEMU guest boots and reports its credentials by name, size
# and HMAC-SHA256 under its own report.key, which playbooks/demo_report.yml compares
# with the controller's vault store. No secret value nor plain digest is printed anywhere.
#
# Needs what `make demo` builds first: .venv, the Debian 12 guest image and the
# host image $MICROVM_HOST_IMAGE (localhost/microvm-host:bookworm). MICROVM_DEMO_CONTAINER
# names the host container (default demo-host, the example inventory's host).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
export PATH="$root/.venv/bin:$PATH"
export CONTAINERS_CONF="$root/molecule/containers.conf"
export ANSIBLE_VAULT_PASSWORD_FILE="$root/tools/vault-pass.sh"
export ANSIBLE_COLLECTIONS_PATH="$root/.build/collections"
# Python warnings that are not ours (tools/foreign-warnings.txt), after the caller's own.
foreign=$(sed -e '/^#/d' -e '/^[[:space:]]*$/d' tools/foreign-warnings.txt | paste -sd, -)
export PYTHONWARNINGS=${PYTHONWARNINGS:+$PYTHONWARNINGS,}$foreign
cache=${MICROVM_CACHE:-/var/cache/microvm-credentials}
image=${MICROVM_HOST_IMAGE:-localhost/microvm-host:bookworm}
container=${MICROVM_DEMO_CONTAINER:-demo-host}
# Another container name: the inventory's host demo-host reaches it as ansible_host.
target=()
[[ $container == demo-host ]] || target=(-e "ansible_host=$container")

# The collection as Ansible finds it: ansible_collections/microvm/credentials.
mkdir -p .build/collections/ansible_collections/microvm
ln -sfn "$root" .build/collections/ansible_collections/microvm/credentials

if [[ ${1:-} == --clean ]]; then
    podman rm -f "$container" >/dev/null 2>&1 || true
    rm -rf inventories/example/.microvm-credentials
    exit 0
fi

if ! podman container exists "$container"; then
    echo "== starting the systemd host container $container"
    podman run -d --name "$container" --hostname "$container" --privileged --systemd=always \
        --ulimit nofile=20000:20000 --ulimit nproc=4096:4096 \
        -v "$cache/guest:/srv/microvm/images:ro" \
        "$image" /sbin/init >/dev/null
elif [[ $(podman inspect -f '{{.State.Running}}' "$container") != true ]]; then
    podman start "$container" >/dev/null
fi
for _ in $(seq 1 60); do
    state=$(podman exec "$container" systemctl is-system-running 2>/dev/null || true)
    [[ $state == running || $state == degraded ]] && break
    sleep 1
done
echo "== host systemd: $state"

# The guest's disk: a qcow2 overlay of the read-only demo image.
podman exec "$container" sh -c 'test -e /var/lib/microvm/demo/root.qcow2 || {
    mkdir -p -m 0700 /var/lib/microvm/demo &&
    qemu-img create -q -f qcow2 -F raw -b /srv/microvm/images/root.img /var/lib/microvm/demo/root.qcow2; }'

echo "== ansible-playbook -i inventories/example playbooks/site.yml"
ansible-playbook -i inventories/example "${target[@]}" playbooks/site.yml
echo "== the guest's view of its credentials, against the controller's"
ansible-playbook -i inventories/example "${target[@]}" playbooks/demo_report.yml
echo "== the audit: times, fingerprints, host in sync, restart pending, orphans"
ansible-playbook -i inventories/example "${target[@]}" playbooks/audit.yml
echo "== secrets are in inventories/example/.microvm-credentials/ (ansible-vault), on the host in"
echo "   /var/lib/microvm-credentials (systemd-creds). Remove everything: tools/demo.sh --clean"
