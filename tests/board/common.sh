# shellcheck shell=bash disable=SC2034  # the variables are used by the sourcing scripts
# Shared settings for the aarch64 build check (sourced by the scripts in tests/board/).
#
# The check builds gozcu for aarch64 with Debian forky's own Rust and cross toolchain inside
# a debootstrapped amd64 chroot, so the result does not depend on the host's rustup toolchain
# and proves the crate builds with a distribution rustc (forky ships >= 1.89).

# Repository root (tests/board/ is two levels down).
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# The chroot lives outside the checkout so that it survives fresh clones (CI clones anew
# for every run); override with BOARD_CACHE=... to put it elsewhere.
BOARD_CACHE=${BOARD_CACHE:-/var/cache/gozcu-board}
BOARD_SUITE=${BOARD_SUITE:-forky}
BOARD_MIRROR=${BOARD_MIRROR:-http://deb.debian.org/debian}
BOARD_ROOT=$BOARD_CACHE/$BOARD_SUITE-amd64
# Packages installed inside the chroot (make: the stub runtime is built with `make
# rknn-stub`). Changing this list updates the chroot's package set (the stamp file below
# records it).
BOARD_PKGS="rustc cargo libstd-rust-dev:arm64 gcc-aarch64-linux-gnu libc6-dev-arm64-cross libclang-dev make"
BOARD_STAMP=$BOARD_ROOT/.gozcu-chroot-ok
# Target triple, cross sysroot inside the chroot, and the host-side path of that sysroot
# (used by qemu-aarch64-static -L to find the aarch64 dynamic loader and libc).
BOARD_TARGET=aarch64-unknown-linux-gnu
BOARD_SYSROOT=/usr/aarch64-linux-gnu
BOARD_HOST_SYSROOT=$BOARD_ROOT$BOARD_SYSROOT
# Cargo output inside the chroot, kept between runs so that rebuilds are incremental.
BOARD_TARGET_DIR=/build/target
# Release files of testing/unstable suites may be past their Valid-Until on a machine whose
# mirror snapshot or clock lags; the content is still signed, so only the date check is off.
BOARD_APT_OPTS="-o Acquire::Check-Valid-Until=false -o APT::Install-Recommends=false -o Dpkg::Use-Pty=0 -q"

# Prints a timestamped step message.
board_log() { printf '[board %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

# Fails with a message.
board_die() { printf '[board] error: %s\n' "$*" >&2; exit 1; }

# Runs "$@" as root inside the chroot, in a private mount namespace so that /proc, /dev and
# the bind mounts listed in BOARD_BINDS ("host:chroot[:ro]" words) vanish when it exits,
# even if it is killed (no stale mounts to clean up).
board_chroot() {
    local binds=${BOARD_BINDS:-}
    # shellcheck disable=SC2016  # the inner script expands its own arguments
    unshare --mount --propagation private -- bash -euo pipefail -c '
        root=$1; binds=$2; shift 2
        mount -t proc proc "$root/proc"
        mount --rbind /dev "$root/dev"
        mkdir -p "$root/tmp" && mount -t tmpfs tmpfs "$root/tmp"
        for b in $binds; do
            IFS=: read -r src dst mode <<<"$b"
            mkdir -p "$root$dst"
            mount --bind "$src" "$root$dst"
            if [ "${mode:-}" = ro ]; then mount -o remount,bind,ro "$root$dst"; fi
        done
        exec chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
            LANG=C.UTF-8 "$@"
    ' board_chroot "$BOARD_ROOT" "$binds" "$@"
}
