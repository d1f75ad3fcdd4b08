#!/usr/bin/env bash
# Creates (or reuses) the Debian forky chroot with Rust and the aarch64 cross toolchain.
#
# First run: debootstrap minbase + apt install, several minutes. Later runs: only checks the
# stamp, unless BOARD_REFRESH=1 (apt update + upgrade) or the package list changed.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "$0")/common.sh"

[ "$(id -u)" = 0 ] || board_die "needs root (debootstrap, chroot, mounts); run with sudo"
command -v debootstrap >/dev/null || board_die "debootstrap missing: apt-get install debootstrap"

# debootstrap in Debian bookworm (1.0.128) has no script named forky; the sid script is the
# one used for every suite after trixie, so pass it explicitly.
script=/usr/share/debootstrap/scripts/$BOARD_SUITE
[ -e "$script" ] || script=/usr/share/debootstrap/scripts/sid

want="$BOARD_SUITE|$BOARD_PKGS"
if [ -f "$BOARD_STAMP" ] && [ "$(cat "$BOARD_STAMP")" = "$want" ] && [ "${BOARD_REFRESH:-0}" != 1 ]; then
    board_log "chroot ready: $BOARD_ROOT ($(board_chroot rustc --version))"
    exit 0
fi

if [ ! -x "$BOARD_ROOT/usr/bin/apt-get" ]; then
    board_log "debootstrap $BOARD_SUITE (minbase) into $BOARD_ROOT"
    rm -rf "$BOARD_ROOT"
    mkdir -p "$BOARD_CACHE"
    # Debian bookworm's debian-archive-keyring (2023.3+deb12u2) carries the trixie (13)
    # archive keys that sign forky's Release files today; a forky-only key would need a
    # newer keyring (see docs/deployment.md).
    debootstrap --variant=minbase --arch=amd64 "$BOARD_SUITE" "$BOARD_ROOT.tmp" "$BOARD_MIRROR" "$script" \
        || { board_log "debootstrap failed; log: $BOARD_ROOT.tmp/debootstrap/debootstrap.log"; exit 1; }
    mv "$BOARD_ROOT.tmp" "$BOARD_ROOT"
fi

board_log "installing into the chroot: $BOARD_PKGS"
printf 'deb %s %s main\n' "$BOARD_MIRROR" "$BOARD_SUITE" >"$BOARD_ROOT/etc/apt/sources.list"
# shellcheck disable=SC2086  # BOARD_APT_OPTS and BOARD_PKGS are word lists
board_chroot bash -euo pipefail -c "
    export DEBIAN_FRONTEND=noninteractive
    dpkg --add-architecture arm64
    apt-get $BOARD_APT_OPTS update
    apt-get $BOARD_APT_OPTS -y dist-upgrade
    apt-get $BOARD_APT_OPTS -y install $BOARD_PKGS
    apt-get clean
"
printf '%s' "$want" >"$BOARD_STAMP"
board_log "chroot ready: $BOARD_ROOT ($(board_chroot rustc --version))"
