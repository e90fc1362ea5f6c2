#!/usr/bin/env bash
# Build the Debian microVM guest used by the tests and the demo.
#
# Output in ${MICROVM_CACHE:-/var/cache/microvm-credentials}/guest/ for bookworm
# (Debian 12, systemd 252), guest-SUITE/ for another suite (trixie: Debian 13,
# systemd 257):
#   vmlinuz     kernel (bzImage) for QEMU direct kernel boot
#   vmlinux     uncompressed ELF kernel for cloud-hypervisor (best effort)
#   initrd.img  initramfs (nvme, virtio, ext4, dmi-sysfs)
#   root.img    raw ext4 root filesystem (sparse, made with mkfs.ext4 -d)
#   image.key   cache key: hash of this script, tools/lib.sh and tools/guest-overlay/
#
# The guest reports the credentials it received on its console as
#   MICROVM-CRED source=LABEL name=NAME size=BYTES hmac-sha256=HEX
# keyed by its own credential report.key (see tools/guest-overlay/). It never
# prints credential values nor their plain digests.
#
# Usage: tools/build-guest-image.sh [--force] [--suite bookworm|trixie]
# Needs root, debootstrap, e2fsprogs (mkfs.ext4 -d), python3, zstd/xz.
# No loop mounts; the only mounts are the build's own tmpfs (tools/lib.sh:
# make_work_dir) and /proc and /sys in the chroot while the initramfs is regenerated.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tools/lib.sh
. "$here/lib.sh"
cache=${MICROVM_CACHE:-/var/cache/microvm-credentials}
mirror=${MICROVM_DEBIAN_MIRROR:-http://deb.debian.org/debian}
root_size=${MICROVM_GUEST_ROOT_SIZE:-1G}
parse_image_args "$@"
out=$cache/guest
[[ $suite == bookworm ]] || out=$cache/guest-$suite

log() { printf '[build-guest-image %s] %s\n' "$suite" "$*" >&2; }

image_key() {
    (cd "$here" && find build-guest-image.sh lib.sh guest-overlay -type f -print0 |
        LC_ALL=C sort -z | xargs -0 sha256sum; echo "$suite") | sha256sum | cut -d' ' -f1
}
key=$(image_key)

if [[ $force == 0 && -f $out/image.key && "$(cat "$out/image.key")" == "$key" ]] &&
    [[ -s $out/vmlinuz && -s $out/initrd.img && -s $out/root.img ]]; then
    log "up to date ($out, key ${key:0:12})"
    exit 0
fi

if [[ $(id -u) != 0 ]]; then
    log "must run as root (debootstrap, chroot)"
    exit 1
fi
for tool in debootstrap mkfs.ext4 python3 chroot; do
    command -v "$tool" >/dev/null || { log "missing tool: $tool"; exit 1; }
done

mkdir -p "$cache"
make_work_dir guest-build
rootfs=$work/rootfs
mounted=()
cleanup() {
    local m
    for m in "${mounted[@]}"; do umount -l "$m" 2>/dev/null || true; done
    remove_work_dir
}
trap cleanup EXIT

start=$(date +%s)
packages=(
    systemd systemd-sysv udev dbus kmod
    linux-image-cloud-amd64 initramfs-tools zstd
    # Logins with an injected host key and authorized keys (tests/integration/test_guest_access.py).
    openssh-server
)
log "debootstrap $suite (minbase) from $mirror"
run_debootstrap guest "$rootfs" "$work/debootstrap.log" "${packages[@]}" || {
    tail -n 50 "$work/debootstrap.log" >&2
    log "debootstrap failed"
    exit 1
}
log "debootstrap done in $(($(date +%s) - start))s"

# --- configuration --------------------------------------------------------
echo guest >"$rootfs/etc/hostname"
cat >"$rootfs/etc/hosts" <<'EOF'
127.0.0.1	localhost
127.0.1.1	guest
::1		localhost ip6-localhost ip6-loopback
EOF
cat >"$rootfs/etc/fstab" <<'EOF'
# The root device is given on the kernel command line (root=/dev/nvme0n1 under
# QEMU, root=/dev/vda under cloud-hypervisor). No fsck: the kernel mounts it
# read-write (rw on the command line); this is a test image.
/dev/root  /  ext4  rw,noatime,errors=remount-ro  0  0
EOF
# Locked root account: no password login. root logs in over SSH only with a key
# from the ssh.authorized_keys.root credential (systemd's tmpfiles.d/provision.conf
# writes it), and sshd's only host key is the ssh.ed25519-host-key credential
# (guest-overlay's ssh.service drop-in): none is in the image.
chroot "$rootfs" usermod --lock root
rm -f "$rootfs"/etc/ssh/ssh_host_*
# Empty machine-id: every VM made from this image gets its own id.
: >"$rootfs/etc/machine-id"
rm -f "$rootfs/var/lib/dbus/machine-id"
mask_units "$rootfs" "${MASKED_UNITS[@]}"
# Under TCG on one vCPU each unit and generator is an exec costing tenths of a second, and
# they all share that vCPU with the way to the credentials (measured: about a third of the
# guest's CPU until its report). Masked here: what nothing on a microVM of these tests and
# the demo uses (debug and config filesystems, binfmt, pstore, TPM PCR measurements,
# repartitioning, modprobe@ for modules the kernel loads on demand) and the generators of
# setups this image has not (crypt, verity and integrity volumes, GPT autodiscovery,
# hibernation, SysV scripts, rc.local, offline updates, systemd.run=). Kept: the debug
# generator (systemd.wants= on the kernel command line), fstab, getty, modules-load (dmi-sysfs).
mask_units "$rootfs" systemd-pstore.service dev-hugepages.mount sys-kernel-debug.mount \
    sys-kernel-tracing.mount sys-fs-fuse-connections.mount sys-kernel-config.mount \
    proc-sys-fs-binfmt_misc.automount systemd-binfmt.service systemd-pcrphase-sysinit.service \
    systemd-pcrphase.service systemd-repart.service modprobe@.service kmod-static-nodes.service
mkdir -p "$rootfs/etc/systemd/system-generators"
for generator in cryptsetup gpt-auto hibernate-resume integritysetup veritysetup rc-local sysv \
    system-update run; do
    ln -sf /dev/null "$rootfs/etc/systemd/system-generators/systemd-$generator-generator"
done
mkdir -p "$rootfs/etc/systemd/logind.conf.d"
cat >"$rootfs/etc/systemd/logind.conf.d/50-microvm.conf" <<'EOF'
# ACPI power button (QEMU system_powerdown, cloud-hypervisor vm.shutdown
# /power-button) powers the guest off cleanly. This is logind's default; it
# is spelled out because the host's stop logic relies on it.
[Login]
HandlePowerKey=poweroff
PowerKeyIgnoreInhibited=yes
EOF
mkdir -p "$rootfs/etc/systemd/system.conf.d"
cat >"$rootfs/etc/systemd/system.conf.d/50-microvm.conf" <<'EOF'
[Manager]
DefaultTimeoutStopSec=15s
EOF

# Keep the image small.
leave_out_docs "$rootfs"

# Guest overlay: credential-report and its units, sshd's host key from a credential.
cp -a "$here/guest-overlay/." "$rootfs/"
chown -R 0:0 "$rootfs/usr/local/libexec" "$rootfs/etc/systemd/system"
chmod 0755 "$rootfs/usr/local/libexec/credential-report"
ln -sf /lib/systemd/system/ssh.service "$rootfs/etc/systemd/system/multi-user.target.wants/ssh.service"
ln -sf /etc/systemd/system/credential-report.service \
    "$rootfs/etc/systemd/system/multi-user.target.wants/credential-report.service"

# Small initramfs with only what a microVM needs. dmi-sysfs must be loaded
# before PID 1 starts: systemd 252 imports SMBIOS type 11 credentials from
# /sys/firmware/dmi/entries only at startup.
cat >"$rootfs/etc/initramfs-tools/conf.d/microvm.conf" <<'EOF'
MODULES=list
COMPRESS=zstd
EOF
cat >"$rootfs/etc/initramfs-tools/modules" <<'EOF'
dmi-sysfs
nvme
virtio_pci
virtio_blk
virtio_scsi
virtio_console
virtio_net
ext4
crc32c_generic
EOF
echo dmi-sysfs >"$rootfs/etc/modules-load.d/dmi-sysfs.conf"

mount -t proc proc "$rootfs/proc"; mounted+=("$rootfs/proc")
mount -t sysfs sysfs "$rootfs/sys"; mounted+=("$rootfs/sys")
chroot "$rootfs" update-initramfs -u -k all >"$work/initramfs.log" 2>&1 || {
    cat "$work/initramfs.log" >&2
    log "update-initramfs failed"
    exit 1
}
for m in "$rootfs/sys" "$rootfs/proc"; do umount -l "$m"; done
mounted=()

chroot "$rootfs" apt-get clean
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
    "$rootfs"/var/cache/debconf/*-old "$rootfs"/var/log/*.log \
    "$rootfs"/var/log/apt/* "$rootfs"/tmp/* "$rootfs"/var/tmp/*

# --- artefacts ---------------------------------------------------------------
stage=$work/out
mkdir -p "$stage"
kver=$(find "$rootfs/lib/modules" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort -V | tail -n 1)
cp "$rootfs/boot/vmlinuz-$kver" "$stage/vmlinuz"
cp "$rootfs/boot/initrd.img-$kver" "$stage/initrd.img"
echo "$kver" >"$stage/kernel.version"
# Direct kernel boot only: the root filesystem needs no copy of them.
rm -f "$rootfs/boot/vmlinuz-$kver" "$rootfs/boot/initrd.img-$kver" \
    "$rootfs/vmlinuz" "$rootfs/vmlinuz.old" "$rootfs/initrd.img" "$rootfs/initrd.img.old"

# vmlinux for cloud-hypervisor (PVH direct boot needs the ELF image).
python3 - "$stage/vmlinuz" "$stage/vmlinux" <<'EOF' || log "WARNING: could not extract vmlinux (cloud-hypervisor direct boot unavailable)"
"""Extract the ELF vmlinux from a bzImage.

The compressed payload is located from the boot protocol header
(payload_offset/payload_length, protocol >= 2.08) or, failing that, by
scanning for compression magics; it is decompressed with the standard library
(gzip, xz, lzma, bzip2), the lz4/zstd command line tools, or a small
pure-Python LZ4 legacy-frame decoder (Debian's 6.1 kernels use LZ4).
"""
import bz2, lzma, shutil, struct, subprocess, sys, zlib

src, dst = sys.argv[1], sys.argv[2]
data = open(src, "rb").read()


def cli(cmd, b):
    if not shutil.which(cmd[0]):
        raise RuntimeError(cmd[0] + " not installed")
    # The tools complain about the trailing size word after the stream but
    # have written the whole stream by then.
    return subprocess.run(cmd, input=b, stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL).stdout


def lz4_block(src, out):
    i, n = 0, len(src)
    while i < n:
        token = src[i]; i += 1
        lit = token >> 4
        if lit == 15:
            while True:
                b = src[i]; i += 1; lit += b
                if b != 255:
                    break
        out += src[i:i + lit]; i += lit
        if i >= n:
            break
        off = src[i] | (src[i + 1] << 8); i += 2
        mlen = token & 15
        if mlen == 15:
            while True:
                b = src[i]; i += 1; mlen += b
                if b != 255:
                    break
        mlen += 4
        start = len(out) - off
        if off >= mlen:
            out += out[start:start + mlen]
        else:
            for k in range(mlen):
                out.append(out[start + k])


def unlz4_legacy(b):
    try:
        out = cli(["lz4", "-dc"], b)
        if out[:4] == b"\x7fELF":
            return out
    except RuntimeError:
        pass
    out = bytearray()
    i = 4
    while i + 4 <= len(b):
        size = struct.unpack_from("<I", b, i)[0]
        if size == 0x184C2102 or i + 4 + size > len(b):
            break
        lz4_block(b[i + 4:i + 4 + size], out)
        i += 4 + size
    return bytes(out)


decoders = [
    (b"\x02\x21\x4c\x18", unlz4_legacy, "lz4"),
    (b"\x28\xb5\x2f\xfd", lambda b: cli(["zstd", "-dc"], b), "zstd"),
    (b"\xfd7zXZ\x00", lambda b: lzma.LZMADecompressor(lzma.FORMAT_XZ).decompress(b), "xz"),
    (b"\x1f\x8b\x08", lambda b: zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(b), "gzip"),
    (b"\x5d\x00\x00", lambda b: lzma.LZMADecompressor(lzma.FORMAT_ALONE).decompress(b), "lzma"),
    (b"BZh", lambda b: bz2.BZ2Decompressor().decompress(b), "bzip2"),
]


def try_at(pos, end=None):
    chunk = data[pos:end]
    for magic, fn, name in decoders:
        if chunk.startswith(magic):
            try:
                out = fn(chunk)
            except Exception:
                return None
            if out[:4] == b"\x7fELF":
                return name, out
    return None


found = None
if data[0x202:0x206] == b"HdrS" and struct.unpack_from("<H", data, 0x206)[0] >= 0x208:
    setup = ((data[0x1F1] or 4) + 1) * 512
    off, length = struct.unpack_from("<II", data, 0x248)
    # The last 4 bytes of the payload are the decompressed size.
    found = try_at(setup + off, setup + off + length - 4)
if found is None:
    for magic, _fn, _name in decoders:
        pos = data.find(magic)
        while pos != -1 and found is None:
            found = try_at(pos)
            pos = data.find(magic, pos + 1)
        if found:
            break
if found is None:
    sys.exit("no compressed ELF payload found")
name, out = found
open(dst, "wb").write(out)
print(f"[build-guest-image] vmlinux: {name} payload, {len(out)} bytes", file=sys.stderr)
EOF

log "making ext4 root image ($root_size, sparse)"
truncate -s "$root_size" "$stage/root.img"
mkfs.ext4 -q -F -L guest-root -E root_owner=0:0 -d "$rootfs" "$stage/root.img"
echo "$key" >"$stage/image.key"

# Replace the previous image set in one go (image.key last).
mkdir -p "$out"
rm -f "$out/image.key"
for f in vmlinuz vmlinux initrd.img root.img kernel.version; do
    if [[ -e $stage/$f ]]; then mv -f "$stage/$f" "$out/$f"; else rm -f "$out/$f"; fi
done
mv -f "$stage/image.key" "$out/image.key"
log "done in $(($(date +%s) - start))s: $(cd "$out" && du --block-size=M vmlinuz vmlinux initrd.img root.img 2>/dev/null | tr '\n' ' ')"
