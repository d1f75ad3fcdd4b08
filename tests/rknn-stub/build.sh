#!/bin/sh
# Builds the RKNN runtime stub: $OUT_DIR/librknnrt.so from rknn_stub.c with $CC.
#   CC=gcc OUT_DIR=/abs/out ./build.sh                     host
#   CC=aarch64-linux-gnu-gcc OUT_DIR=/abs/out ./build.sh   cross (tests/board uses this)
# The SONAME is librknnrt.so, like Rockchip's library, so a binary linked against the stub
# loads the real runtime on a board.
set -eu
CC=${CC:-gcc}
OUT_DIR=${OUT_DIR:?set OUT_DIR to the output directory}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$OUT_DIR"
# shellcheck disable=SC2086  # CFLAGS is a list of flags
$CC ${CFLAGS:--O2 -g} -std=c11 -Wall -Wextra -Werror -fPIC -shared \
    -Wl,-soname,librknnrt.so -o "$OUT_DIR/librknnrt.so" "$here/rknn_stub.c" -lpthread
