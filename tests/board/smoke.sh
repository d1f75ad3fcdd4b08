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
#      feature really linked the runtime) and the loader resolves it from SYSROOT;
#   5. a short `gozcu run` on a replay camera (../shared/testdata/pets2009/img, or
#      $GOZCU_SHARED) with a WebSocket client (ws_events.py, Python standard library)
#      reading the first status and an event:
#        plain: detector.backend = "none", a `motion` event (tract's CPU model under
#               emulation is left out: see docs/deployment.md for its cost);
#        rknn:  detector.backend = "rknn" on the stub runtime (the aarch64 librknnrt.so in
#               SYSROOT) with a fixture whose int8 output holds one person box, so the
#               whole NPU path runs emulated: status must say backend rknn, then a
#               `person` event starts. SIGTERM must then end the daemon with exit 0.
#      Skipped with a note when the shared test data is missing (a failure under CI=true).
#
# SYSROOT (default: the forky chroot's /usr/aarch64-linux-gnu) provides the aarch64 dynamic
# loader and libraries; qemu-aarch64-static -L makes the binary see it as /.
# Extending: add a step function below and call it at the end.
set -euo pipefail
here=$(dirname "$0")
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$here/common.sh"
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

# Writes a stub-runtime fixture for a YOLOX-Nano-416-like model into $1 (format:
# tests/rknn-stub/README.md): int8 output [1, 3549, 85] (zp 0, scale 0.05), all zero except
# one stride-32 cell with objectness and class 0 (person) at 0.95 and a box of about
# 96x192 px, so every inference yields one person in the same place.
write_rknn_fixture() {
    local dir=$1
    mkdir -p "$dir"
    cat >"$dir/attrs.txt" <<'FIXTURE'
gozcu-rknn-stub 1
inputs=1
outputs=1
in0.name=images
in0.dims=1,416,416,3
in0.fmt=nhwc
in0.type=int8
in0.qnt=affine
in0.zp=-128
in0.scale=0.003921569
out0.name=output
out0.dims=1,3549,85
out0.fmt=nchw
out0.type=int8
out0.qnt=affine
out0.zp=0
out0.scale=0.05
sdk_version=2.3.2 (stub, aarch64 smoke)
FIXTURE
    python3 - "$dir/output0.bin" <<'PY'
import math, sys
k, scale = 85, 0.05
out = bytearray(3549 * k)  # q = 0 -> 0.0
def q(v):
    return max(-128, min(127, round(v / scale))) & 0xFF
row = 52 * 52 + 26 * 26 + 6 * 13 + 6  # stride 32, grid cell (6, 6)
for col, v in [(0, 0.5), (1, 0.5), (2, math.log(3)), (3, math.log(6)), (4, 0.95), (5, 0.95)]:
    out[row * k + col] = q(v)
open(sys.argv[1], "wb").write(out)
PY
    # A real-looking model path; RKNN_STUB_DIR makes the stub read attrs.txt instead.
    printf 'RKNN binary model stand-in\n' >"$dir/yolox_nano-rk3588.rknn"
}

step_replay_run() {
    local shared=${GOZCU_SHARED:-$REPO_ROOT/../shared}
    local frames=$shared/testdata/pets2009/img
    if [ ! -d "$frames" ]; then
        [ -z "${CI:-}" ] || fail "shared test data missing at $frames (set GOZCU_SHARED)"
        board_log "smoke: no test data at $frames; replay run skipped"
        return 0
    fi
    frames=$(readlink -f "$frames")
    local port detector want_type backend_arg=() env_args=()
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    if [ "${GOZCU_EXPECT_RKNN:-0}" = 1 ]; then
        write_rknn_fixture "$work/fixture"
        detector="backend = \"rknn\"
model = \"$work/fixture/yolox_nano-rk3588.rknn\"
family = \"yolox\""
        want_type=person
        backend_arg=(--backend rknn)
        env_args=(RKNN_STUB_DIR="$work/fixture")
    else
        detector='backend = "none"'
        want_type=motion
    fi
    cat >"$work/replay.toml" <<CONFIG
[server]
listen = ["127.0.0.1:$port"]
[storage]
dir = "$work/data"
[detector]
$detector
[events]
end_after_s = 2
[[cameras]]
id = "street"
name = "Street"
device = "replay:$frames"
width = 768
height = 576
fps = 7
detect_fps = 2
CONFIG
    run check-config --config "$work/replay.toml" || fail "check-config on the replay config exited $?"
    ok "check-config replay config: exit 0"

    local t0=$SECONDS status=0 pid
    env "${env_args[@]}" "$QEMU" -L "$sysroot" "$bin" run --config "$work/replay.toml" \
        >"$work/daemon.out" 2>"$work/daemon.log" &
    pid=$!
    python3 "$here/ws_events.py" --port "$port" --event-type "$want_type" \
        "${backend_arg[@]}" --timeout "${SMOKE_EVENT_TIMEOUT:-240}" >"$work/out" 2>"$work/err" \
        || status=$?
    sed 's/^/  /' "$work/out"
    if [ "$status" != 0 ]; then
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        printf '[smoke] daemon log (end):\n' >&2
        tail -n 40 "$work/daemon.log" >&2
        fail "no $want_type event over the WebSocket"
    fi
    ok "replay run: $want_type event read over the WebSocket, $((SECONDS - t0)) s after the start"
    kill -TERM "$pid"
    status=0
    wait "$pid" || status=$?
    if [ "$status" != 0 ]; then
        tail -n 40 "$work/daemon.log" >&2
        fail "daemon exited $status after SIGTERM, expected 0"
    fi
    grep -q "gozcu stopped" "$work/daemon.log" || fail "daemon log lacks 'gozcu stopped'"
    ok "SIGTERM: daemon exited 0"
}

step_version
step_help
step_check_config
step_rknn_linked
step_replay_run
board_log "smoke: $steps passed, 0 failed ($(basename "$bin"))"
