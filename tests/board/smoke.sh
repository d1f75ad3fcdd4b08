#!/usr/bin/env bash
# Runs an aarch64 gozcu binary under qemu user-mode emulation and checks what it does today:
#
#   smoke.sh BINARY [SYSROOT]
#
#   1. `gozcu --version` prints "gozcu <version from Cargo.toml>";
#   2. `gozcu --help` lists the subcommands (run, check-config, devices, detect);
#   3. `gozcu check-config --config config/demo.toml` exits 0, and on a config with an
#      invalid listen address exits 78 with a message naming the file (DESIGN.md section 5);
#      skipped with a note while the tree has no config/demo.toml;
#   4. with GOZCU_EXPECT_RKNN=1, the binary's dynamic section needs librknnrt.so (the rknn
#      feature really linked the runtime) and the loader resolves it from SYSROOT.
#
# SYSROOT (default: the forky chroot's /usr/aarch64-linux-gnu) provides the aarch64 dynamic
# loader and libraries; qemu-aarch64-static -L makes the binary see it as /.
# Extending: add a step function below and call it at the end (e.g. a short replay run with
# a WebSocket client once the daemon runs).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "$0")/common.sh"
bin=${1:?usage: smoke.sh BINARY [SYSROOT]}
sysroot=${2:-$BOARD_HOST_SYSROOT}
[ -f "$bin" ] || board_die "no binary at $bin (build it first: tests/board/build.sh)"
bin=$(readlink -f "$bin")
QEMU=${QEMU:-qemu-aarch64-static}
command -v "$QEMU" >/dev/null || board_die "$QEMU missing: apt-get install qemu-user-static"
[ -x "$sysroot/lib/ld-linux-aarch64.so.1" ] || board_die "no aarch64 loader in $sysroot/lib"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
steps=0

# Runs the binary under emulation; stdout/stderr to $work/out, $work/err; returns its status.
run() { "$QEMU" -L "$sysroot" "$bin" "$@" >"$work/out" 2>"$work/err"; }
fail() { printf '[smoke] FAIL: %s\n  stdout: %s\n  stderr: %s\n' "$1" "$(head -c 2000 "$work/out" 2>/dev/null)" "$(head -c 2000 "$work/err" 2>/dev/null)" >&2; exit 1; }
ok() { steps=$((steps + 1)); board_log "smoke ok: $*"; }

step_version() {
    local want
    want=$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$REPO_ROOT/Cargo.toml" | head -1)
    run --version || fail "--version exited $?"
    grep -qx "gozcu $want" "$work/out" || fail "--version did not print 'gozcu $want'"
    ok "--version: $(cat "$work/out")"
}

step_help() {
    run --help || fail "--help exited $?"
    for sub in run check-config devices detect; do
        grep -qE "^ +$sub( |$)" "$work/out" || fail "--help does not list subcommand $sub"
    done
    ok "--help lists run, check-config, devices, detect"
}

step_check_config() {
    local demo=$REPO_ROOT/config/demo.toml
    if [ ! -f "$demo" ]; then
        board_log "smoke: config/demo.toml is not in this tree yet; check-config steps skipped"
        return 0
    fi
    (cd "$REPO_ROOT" && run check-config --config config/demo.toml) || fail "check-config on config/demo.toml exited $?"
    ok "check-config config/demo.toml: exit 0"
    printf '[server]\nlisten = ["not-an-address"]\n' >"$work/bad.toml"
    local status=0
    run check-config --config "$work/bad.toml" || status=$?
    [ "$status" = 78 ] || fail "check-config on an invalid config exited $status, expected 78"
    grep -q "bad.toml" "$work/out" "$work/err" || fail "check-config's message does not name the file bad.toml"
    ok "check-config invalid config: exit 78, file named"
}

step_rknn_linked() {
    [ "${GOZCU_EXPECT_RKNN:-0}" = 1 ] || return 0
    readelf -d "$bin" | grep -q 'NEEDED.*\[librknnrt.so\]' || fail "binary does not need librknnrt.so"
    [ -f "$sysroot/lib/librknnrt.so" ] || fail "no librknnrt.so in $sysroot/lib for the loader"
    ok "links librknnrt.so (resolved from the sysroot when run)"
}

step_version
step_help
step_check_config
step_rknn_linked
board_log "smoke: $steps passed, 0 failed ($(basename "$bin"))"
