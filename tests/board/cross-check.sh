#!/usr/bin/env bash
# The aarch64 build check (make cross-check): Debian forky chroot with Debian's Rust and
# aarch64 cross toolchain (cached), offline build of gozcu for aarch64-unknown-linux-gnu,
# then the smoke test under qemu. With tests/rknn-stub/ present, the same for
# --features rknn against the stub runtime. Prints how long each phase took.
set -euo pipefail
here=$(dirname "$0")
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$here/common.sh"
[ "$(id -u)" = 0 ] || board_die "needs root (debootstrap, chroot, mounts); run with sudo"

timings=()
phase() {
    local name=$1 start=$SECONDS
    shift
    "$@"
    timings+=("$(printf '%-28s %4ds' "$name" $((SECONDS - start)))")
}

total_start=$SECONDS
phase "chroot (create or reuse)" "$here/chroot.sh"
phase "build aarch64" "$here/build.sh" plain
phase "smoke aarch64" "$here/smoke.sh" "$BOARD_ROOT/build/out/gozcu"

# The rknn variant: runs once the stub runtime (issue 6) is in the tree.
if [ -d "$REPO_ROOT/tests/rknn-stub" ]; then
    phase "build aarch64 --features rknn" "$here/build.sh" rknn
    phase "smoke aarch64 rknn" env GOZCU_EXPECT_RKNN=1 "$here/smoke.sh" "$BOARD_ROOT/build/out/gozcu-rknn"
else
    board_log "tests/rknn-stub/ not in this tree: --features rknn variant not built"
fi

board_log "cross-check timings:"
for t in "${timings[@]}"; do printf '  %s\n' "$t"; done
printf '  %-28s %4ds\n' "total" $((SECONDS - total_start))
board_log "cross-check: OK"
