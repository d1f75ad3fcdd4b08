#!/usr/bin/env bash
# Builds gozcu for aarch64-unknown-linux-gnu inside the forky chroot (see chroot.sh), offline,
# with the host's cargo registry and the source tree bind-mounted.
#
#   build.sh plain   default features            -> $BOARD_ROOT/build/out/gozcu
#   build.sh rknn    --features rknn, linked     -> $BOARD_ROOT/build/out/gozcu-rknn
#                    against the stub librknnrt.so built by `make rknn-stub
#                    RKNN_CC=aarch64-linux-gnu-gcc` (tests/rknn-stub/) in the chroot and
#                    installed into its cross sysroot, where the cross linker and, at run
#                    time, qemu -L find it
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "$0")/common.sh"
variant=${1:?usage: build.sh plain|rknn}
[ "$(id -u)" = 0 ] || board_die "needs root (chroot, mounts); run with sudo"
[ -f "$BOARD_STAMP" ] || board_die "no chroot at $BOARD_ROOT: run tests/board/chroot.sh first"

CARGO_HOME_HOST=${CARGO_HOME:-$HOME/.cargo}
# Download every crate in Cargo.lock on the host (the chroot build runs --offline). cargo
# fetch covers all targets and all optional dependencies, rknn-rs included.
board_log "cargo fetch --locked (host)"
(cd "$REPO_ROOT" && cargo fetch --locked -q)

mkdir -p "$BOARD_ROOT/build/out" "$BOARD_ROOT/src" "$BOARD_ROOT/root/.cargo/registry"
features=""
out=gozcu
stub_step=""
if [ "$variant" = rknn ]; then
    stub=$REPO_ROOT/tests/rknn-stub
    [ -d "$stub" ] || board_die "tests/rknn-stub/ does not exist yet; the rknn variant needs it"
    features="--features rknn"
    out=gozcu-rknn
    # Builds the stub for aarch64 with the project's own make target (mk/rknn.mk) and the
    # chroot's cross gcc, and installs it as the sysroot's librknnrt.so, where the cross
    # linker finds it for -lrknnrt (a cross gcc ignores LIBRARY_PATH) and qemu -L at run time.
    stub_step='
        make -C /src --no-print-directory rknn-stub \
            RKNN_CC=aarch64-linux-gnu-gcc RKNN_STUB_OUT=/build/rknn-stub/out
        install -m 0755 /build/rknn-stub/out/librknnrt.so '"$BOARD_SYSROOT"'/lib/librknnrt.so
        aarch64-linux-gnu-readelf -h '"$BOARD_SYSROOT"'/lib/librknnrt.so | grep -q AArch64
        echo "stub runtime: built for aarch64, installed as '"$BOARD_SYSROOT"'/lib/librknnrt.so"
    '
elif [ "$variant" != plain ]; then
    board_die "unknown variant '$variant' (plain or rknn)"
fi

board_log "cargo build --release --target $BOARD_TARGET $features (chroot, offline)"
# shellcheck disable=SC2016  # expanded inside the chroot
BOARD_BINDS="$REPO_ROOT:/src:ro $CARGO_HOME_HOST/registry:/root/.cargo/registry:ro" \
board_chroot bash -euo pipefail -c "
    $stub_step
    cd /src
    export CARGO_HOME=/root/.cargo CARGO_TARGET_DIR=$BOARD_TARGET_DIR
    export CARGO_TERM_COLOR=never CARGO_TERM_PROGRESS_WHEN=never
    # The Debian cross toolchain: the linker for the final binary, the C compiler for
    # bundled SQLite (cc crate), and clang's view of the aarch64 headers for bindgen
    # (v4l2-sys-mit; rknn-sys-rs with the rknn feature). bindgen passes --target itself.
    export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
    export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
    export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
    export BINDGEN_EXTRA_CLANG_ARGS='--sysroot=$BOARD_SYSROOT -I$BOARD_SYSROOT/include'
    rustc --version
    cargo build --offline --locked --release --target $BOARD_TARGET $features
    install -m 0755 $BOARD_TARGET_DIR/$BOARD_TARGET/release/gozcu /build/out/$out
"
file "$BOARD_ROOT/build/out/$out" | grep -q 'ARM aarch64' || \
    board_die "built $out is not an aarch64 ELF: $(file "$BOARD_ROOT/build/out/$out")"
board_log "built $BOARD_ROOT/build/out/$out ($(du -h "$BOARD_ROOT/build/out/$out" | cut -f1))"
