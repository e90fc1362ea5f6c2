#!/usr/bin/env bash
# Build the "microVM host" container image used by the tests and the demo:
# a Debian rootfs booting systemd, with QEMU and Python for Ansible,
# and sshd for tests that connect over ssh as the non-root user `ansible`
# (passwordless sudo for become; keys are installed at test time).
#
# The image is made from a local debootstrap (no registry is reachable) and
# imported with `podman import` as localhost/microvm-host:SUITE (bookworm:
# Debian 12, systemd 252; trixie: Debian 13, systemd 257), labelled with a
# cache key (hash of this script, tools/lib.sh and the suite). It is rebuilt
# only when that key changed or with --force.
#
# Usage: tools/build-host-image.sh [--force] [--suite bookworm|trixie]
# Needs root, debootstrap, podman. Podman must use runc here (see
# molecule/containers.conf; the Makefile exports CONTAINERS_CONF).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tools/lib.sh
. "$here/lib.sh"
cache=${MICROVM_CACHE:-/var/cache/microvm-credentials}
mirror=${MICROVM_DEBIAN_MIRROR:-http://deb.debian.org/debian}
label=io.microvm-credentials.image-key
parse_image_args "$@"
# The tags the Makefile, tools/demo.sh and the integration harness use.
case $suite in
    bookworm) image=${MICROVM_HOST_IMAGE:-localhost/microvm-host:bookworm} ;;
    *) image=${MICROVM_TRIXIE_IMAGE:-localhost/microvm-host:$suite} ;;
esac

log() { printf '[build-host-image %s] %s\n' "$suite" "$*" >&2; }

key=$( (cat "$here/build-host-image.sh" "$here/lib.sh" | sha256sum; echo "$suite") | sha256sum | cut -d' ' -f1)

if [[ $force == 0 ]] && podman image exists "$image" &&
    [[ "$(podman image inspect --format "{{ index .Labels \"$label\" }}" "$image" 2>/dev/null)" == "$key" ]]; then
    log "up to date ($image, key ${key:0:12})"
    exit 0
fi

if [[ $(id -u) != 0 ]]; then
    log "must run as root (debootstrap, rootful podman)"
    exit 1
fi
for tool in debootstrap podman tar; do
    command -v "$tool" >/dev/null || { log "missing tool: $tool"; exit 1; }
done

mkdir -p "$cache"
make_work_dir host-build
rootfs=$work/rootfs
trap remove_work_dir EXIT

start=$(date +%s)
packages=(
    systemd systemd-sysv dbus udev
    python3 python3-apt
    qemu-system-x86 qemu-utils
    iproute2 procps kmod ca-certificates
    openssh-server sudo
)
# The Debian 13 image is a controller too, for the version matrix (tools/matrix.sh):
# its Python 3.13 runs the ansible-core releases that need 3.12 or newer. The Debian 12
# image never is (those rows use this machine), so it goes without.
[[ $suite == bookworm ]] || packages+=(python3-venv git rsync openssh-client shellcheck)
log "debootstrap $suite (minbase) from $mirror"
# debootstrap installs no Recommends by default (qemu-system-x86 would pull
# in GUI and firmware packages otherwise).
run_debootstrap host "$rootfs" "$work/debootstrap.log" "${packages[@]}" || {
    tail -n 50 "$work/debootstrap.log" >&2
    log "debootstrap failed"
    exit 1
}
log "debootstrap done in $(($(date +%s) - start))s"

# virtiofsd is a separate package only in newer releases; install it when the
# mirror has it (bookworm's main archive does not).
if chroot "$rootfs" apt-cache show virtiofsd >/dev/null 2>&1; then
    cp /etc/resolv.conf "$rootfs/etc/resolv.conf" 2>/dev/null || true
    chroot "$rootfs" apt-get install -y --no-install-recommends virtiofsd ||
        log "WARNING: virtiofsd install failed, continuing without it"
fi

echo microvm-host >"$rootfs/etc/hostname"
: >"$rootfs/etc/machine-id"
rm -f "$rootfs/var/lib/dbus/machine-id"
# Besides the units both images mask, those that make no sense (or hang) in a container.
mask_units "$rootfs" "${MASKED_UNITS[@]}" \
    systemd-udevd.service systemd-udevd-control.socket systemd-udevd-kernel.socket \
    systemd-udev-trigger.service systemd-udev-settle.service \
    getty@tty1.service console-getty.service systemd-modules-load.service \
    sys-kernel-config.mount sys-kernel-debug.mount sys-kernel-tracing.mount
mkdir -p "$rootfs/etc/systemd/journald.conf.d"
cat >"$rootfs/etc/systemd/journald.conf.d/50-container.conf" <<'EOF'
[Journal]
Storage=volatile
EOF

# systemd 252 sets up a service's credentials (LoadCredentialEncrypted=) in a
# child mount namespace and moves the mount to /run/credentials/UNIT; that only
# reaches the service when / is a shared mount. systemd makes / shared on a real
# host but not in a container (and podman's root is private), so do it here
# before any service starts; without it $CREDENTIALS_DIRECTORY is empty.
cat >"$rootfs/etc/systemd/system/make-root-rshared.service" <<'EOF'
[Unit]
Description=Make / a shared mount, as on a real host (credentials need it)
DefaultDependencies=no
Before=sysinit.target local-fs.target

[Service]
Type=oneshot
ExecStart=/bin/mount --make-rshared /

[Install]
WantedBy=sysinit.target
EOF
mkdir -p "$rootfs/etc/systemd/system/sysinit.target.wants"
ln -sf ../make-root-rshared.service "$rootfs/etc/systemd/system/sysinit.target.wants/make-root-rshared.service"

# The ssh test user: no password (`*`, not locked), sudo without one for become.
chroot "$rootfs" useradd --create-home --shell /bin/bash --password '*' ansible
install -m 0700 -d "$rootfs/home/ansible/.ssh"
chroot "$rootfs" chown ansible:ansible /home/ansible/.ssh
printf 'ansible ALL=(ALL:ALL) NOPASSWD: ALL\n' >"$rootfs/etc/sudoers.d/ansible"
chmod 0440 "$rootfs/etc/sudoers.d/ansible"
# Every container makes its own host keys at first boot; none is in the image.
rm -f "$rootfs"/etc/ssh/ssh_host_*
mkdir -p "$rootfs/etc/systemd/system/ssh.service.d" "$rootfs/etc/systemd/system/multi-user.target.wants"
cat >"$rootfs/etc/systemd/system/ssh.service.d/50-host-keys.conf" <<'EOF'
[Service]
ExecStartPre=
ExecStartPre=/usr/bin/ssh-keygen -A
ExecStartPre=/usr/sbin/sshd -t
EOF
ln -sf /lib/systemd/system/ssh.service "$rootfs/etc/systemd/system/multi-user.target.wants/ssh.service"

leave_out_docs "$rootfs"
chroot "$rootfs" apt-get clean
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
    "$rootfs"/var/log/*.log "$rootfs"/var/log/apt/* "$rootfs"/tmp/* "$rootfs"/var/tmp/*
# /etc/resolv.conf is provided by podman at run time.
rm -f "$rootfs/etc/resolv.conf"

log "importing as $image"
tar -C "$rootfs" --numeric-owner --xattrs -cf "$work/rootfs.tar" .
podman import --quiet \
    --change 'CMD ["/sbin/init"]' \
    --change 'STOPSIGNAL SIGRTMIN+3' \
    --change 'ENV container=podman' \
    --change "LABEL $label=$key" \
    "$work/rootfs.tar" "$image" >/dev/null
log "done in $(($(date +%s) - start))s: $(podman image inspect --format '{{.Size}}' "$image" | awk '{printf "%d MiB", $1/1048576}')"
