#!/usr/bin/env bash
# Checks the Yocto layer (yocto-layer/, meta-gozcu) without BitBake:
#   1. gozcu-crates.inc matches Cargo.lock (gen_crates_inc.py), and the generator's own
#      failure cases (test_gen_crates_inc.sh);
#   2. layer.conf variables, recipe file references, licence checksum (check_layer_files.py);
#   3. oelint-adv (PyPI, pinned in requirements.txt, in a venv under tests/layer/.venv) on
#      every recipe and layer.conf, for each release in LAYERSERIES_COMPAT; any finding fails.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
LAYER=$(cd "$HERE/../../yocto-layer" && pwd)
VENV=${OELINT_VENV:-$HERE/.venv}
PYTHON=${PYTHON:-python3}

"$HERE/gen_crates_inc.py"
"$HERE/test_gen_crates_inc.sh"
"$HERE/check_layer_files.py"

if [ ! -x "$VENV/bin/oelint-adv" ] || ! cmp -s "$HERE/requirements.txt" "$VENV/requirements.txt"; then
    echo "check-layer: installing oelint-adv into $VENV"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV" || { echo "check-layer: python3 -m venv failed: apt-get install python3-venv" >&2; exit 1; }
    "$VENV/bin/pip" install -q --disable-pip-version-check --retries 5 --timeout 60 \
        -r "$HERE/requirements.txt"
    cp "$HERE/requirements.txt" "$VENV/requirements.txt"
fi

# Rules switched off, each for a reason:
#   homepageping: fetches HOMEPAGE over the network, which tests must not depend on.
#   bbclassextend: both recipes are for the target only (a daemon, a prebuilt library).
#   mandatoryvar.HOMEPAGE, suggestedvar.BUGTRACKER: gozcu has no public site or tracker
#     yet (the rknpu2-runtime recipe sets both); drop these two once it does.
# oelint-constants.json teaches the linter LICENSE_FLAGS, which its whinlatter data lacks.
suppress=(oelint.vars.homepageping oelint.var.bbclassextend
          oelint.var.mandatoryvar.HOMEPAGE oelint.var.suggestedvar.BUGTRACKER)
args=(--quiet --mode all --relpaths --constantmods "+$HERE/oelint-constants.json")
for rule in "${suppress[@]}"; do args+=(--suppress "$rule"); done
mapfile -t files < <(cd "$LAYER" && ls recipes-*/*/*.bb recipes-*/*/*.bbappend conf/layer.conf 2>/dev/null)
series=$(sed -n 's/^LAYERSERIES_COMPAT_gozcu *= *"\(.*\)"/\1/p' "$LAYER/conf/layer.conf")
[ -n "$series" ] || { echo "check-layer: no LAYERSERIES_COMPAT_gozcu in layer.conf" >&2; exit 1; }
status=0
for release in $series; do
    out=$(cd "$LAYER" && "$VENV/bin/oelint-adv" "${args[@]}" --release "$release" "${files[@]}" 2>&1) || status=1
    if [ -n "$out" ]; then
        printf '%s\n' "$out" >&2
        status=1
    fi
    echo "check-layer: oelint-adv $("$VENV/bin/oelint-adv" --version | awk '{print $2}') --release $release: ${#files[@]} files, $( [ -z "$out" ] && echo clean || echo 'findings above')"
done
[ "$status" = 0 ] || { echo "check-layer: FAIL: oelint-adv findings" >&2; exit 1; }
echo "check-layer: OK"
