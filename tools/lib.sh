# shellcheck shell=bash
# Shared by tools/build-host-image.sh and tools/build-guest-image.sh (sourced): their
# arguments, the units both images mask and the documentation both leave out. Each
# script's cache key covers this file too.

# parse_image_args "$@": sets force (0 or 1) and suite (bookworm or trixie), or exits 2.
# shellcheck disable=SC2034  # force and suite are for the sourcing script
parse_image_args() {
    force=0
    suite=bookworm
    while [[ $# -gt 0 ]]; do
        case $1 in
            --force) force=1 ;;
            --suite) suite=${2:?--suite needs a value}; shift ;;
            *) echo "usage: $0 [--force] [--suite bookworm|trixie]" >&2; exit 2 ;;
        esac
        shift
    done
    case $suite in
        bookworm|trixie) ;;
        *) echo "unsupported suite $suite (bookworm, trixie)" >&2; exit 2 ;;
    esac
}

# No interactive first-boot prompts on the console; nothing periodic.
# shellcheck disable=SC2034  # for the sourcing script
MASKED_UNITS=(
    systemd-firstboot.service apt-daily.timer apt-daily-upgrade.timer
    e2scrub_all.timer e2scrub_reap.service fstrim.timer
)

# mask_units ROOTFS UNIT...: link each unit to /dev/null in ROOTFS/etc/systemd/system.
mask_units() {
    local rootfs=${1:?mask_units needs ROOTFS} unit
    shift
    for unit in "$@"; do
        ln -sf /dev/null "$rootfs/etc/systemd/system/$unit"
    done
}

# leave_out_docs ROOTFS: no documentation, man pages or translations, now or for
# anything installed later (copyright files and locale.alias stay).
leave_out_docs() {
    local rootfs=${1:?leave_out_docs needs ROOTFS}
    cat >"$rootfs/etc/dpkg/dpkg.cfg.d/01-microvm-nodoc" <<'EOT'
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
path-include=/usr/share/locale/locale.alias
path-exclude=/usr/share/lintian/*
EOT
    find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
    rm -rf "$rootfs/usr/share/man" "$rootfs/usr/share/info" "$rootfs/usr/share/lintian"
    find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias \
        -exec rm -rf {} + 2>/dev/null || true
}

# make_work_dir NAME: sets work to a new private directory $cache/NAME.XXXXXX, mounted as a
# tmpfs of its own when the machine has the memory (MICROVM_BUILD_TMPFS=0: never). dpkg
# syncs every file it unpacks; on a tmpfs that costs nothing, and the debootstrap of a
# build took a fifth less time (266 s against 335 s, the same host package set side by side).
# remove_work_dir undoes it; mounts inside the work directory must be gone by then.
# shellcheck disable=SC2154  # cache (and mirror, below) are the sourcing script's
make_work_dir() {
    local avail_kib
    work=$(mktemp -d "$cache/$1.XXXXXX")
    work_tmpfs=0
    avail_kib=$(awk '/^MemAvailable:/ {print $2}' /proc/meminfo)
    # Up to four builds run at once (make images), each holding about 1.5 GiB there.
    if [[ ${MICROVM_BUILD_TMPFS:-1} != 0 && ${avail_kib:-0} -ge $((8 * 1024 * 1024)) ]] &&
        mount -t tmpfs -o size=4g,mode=0700 microvm-build "$work"; then
        work_tmpfs=1
    fi
}

remove_work_dir() {
    if [[ ${work_tmpfs:-0} == 1 ]]; then
        umount -l "$work" && work_tmpfs=0
    fi
    rm -rf --one-file-system "$work"
}

# run_debootstrap KIND ROOTFS LOG PACKAGE...: debootstrap --variant=minbase of $suite from
# $mirror with PACKAGE... The .deb files stay in $cache/debs/SUITE-KIND for the next build
# of that kind (one at a time per directory: debootstrap writes its cache in place).
# shellcheck disable=SC2154
run_debootstrap() {
    local kind=$1 rootfs=$2 logfile=$3
    shift 3
    local debs=$cache/debs/$suite-$kind
    mkdir -p "$debs"
    (
        flock 9
        debootstrap --variant=minbase --cache-dir="$debs" --include="$(IFS=,; echo "$*")" \
            "$suite" "$rootfs" "$mirror" >"$logfile" 2>&1
    ) 9>"$debs.lock"
}
