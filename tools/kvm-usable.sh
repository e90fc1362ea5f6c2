#!/usr/bin/env bash
# Exit 0 when this machine can run the cloud-hypervisor molecule scenario:
# cloud-hypervisor is on PATH and KVM really boots a stock Debian kernel.
# Otherwise exit 1 with the reason on stderr.
#
# /dev/kvm may exist and still be useless (a broken nested hypervisor makes
# stock kernels die early with MSR/emulation errors), so the probe boots the
# guest kernel under QEMU with -accel kvm, without a root device, and checks
# that the serial output reaches the point where the kernel looks for its
# root filesystem.
#
# Usage: tools/kvm-usable.sh [--kvm-only] [KERNEL]
#   --kvm-only  do not require cloud-hypervisor (just "does KVM work")
#   KERNEL      bzImage to probe with (default: the guest image's vmlinuz)
set -uo pipefail

kvm_only=0
if [[ ${1:-} == --kvm-only ]]; then
    kvm_only=1
    shift
fi
cache=${MICROVM_CACHE:-/var/cache/microvm-credentials}
kernel=${1:-$cache/guest/vmlinuz}
timeout_s=${MICROVM_KVM_PROBE_TIMEOUT:-60}

no() {
    echo "$*" >&2
    exit 1
}

if [[ $kvm_only == 0 ]]; then
    command -v cloud-hypervisor >/dev/null 2>&1 || no "cloud-hypervisor is not on PATH"
fi
[[ -c /dev/kvm ]] || no "/dev/kvm does not exist"
[[ -r /dev/kvm && -w /dev/kvm ]] || no "/dev/kvm is not readable and writable by $(id -un)"
command -v qemu-system-x86_64 >/dev/null 2>&1 || no "qemu-system-x86_64 (needed for the KVM probe) is not on PATH"
[[ -f $kernel ]] || no "no kernel to probe KVM with: $kernel (run 'make images')"

log=$(mktemp)
trap 'rm -f "$log"' EXIT
# The braces keep bash's "Aborted" job notice off stderr.
{ timeout "$timeout_s" qemu-system-x86_64 \
    -accel kvm -machine q35 -cpu host -m 256 -smp 1 \
    -kernel "$kernel" -append 'console=ttyS0 panic=-1 loglevel=7' \
    -nodefaults -no-user-config -display none -vga none \
    -serial "file:$log" -monitor none -no-reboot >"$log.qemu" 2>&1; } 2>/dev/null
rc=$?
qemu_err=$(head -c 400 "$log.qemu" | tr '\n' ' ')
rm -f "$log.qemu"

if grep -a -q -E 'VFS: Cannot open root device|VFS: Unable to mount root|Run /init as init process|Kernel panic - not syncing: VFS' "$log"; then
    exit 0
fi
last=$(grep -a -v '^\s*$' "$log" | tail -n 1 | tr -d '\r' | cut -c1-160)
if [[ $rc == 124 ]]; then
    no "KVM probe: kernel did not reach root mount within ${timeout_s}s${last:+ (last console line: $last)}"
fi
no "KVM probe: qemu -accel kvm exited with $rc before the kernel reached root mount${qemu_err:+: $qemu_err}${last:+ (last console line: $last)}"
