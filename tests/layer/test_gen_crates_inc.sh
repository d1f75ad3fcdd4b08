#!/usr/bin/env bash
# Proves that gen_crates_inc.py catches what it must: runs it on a scratch copy of the
# repository's Cargo.lock and crates include, altered one way at a time, and asserts on the
# exit status and the message.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
GEN=$HERE/gen_crates_inc.py
INC_REL=yocto-layer/recipes-multimedia/gozcu/gozcu-crates.inc
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0

fail() { printf 'test_gen_crates_inc: FAIL: %s\n' "$*" >&2; exit 1; }

# A scratch git repository holding only Cargo.lock and the include (the generator reads the
# Cargo.lock files git tracks).
fresh() {
    rm -rf "$work/repo" && mkdir -p "$work/repo/$(dirname "$INC_REL")"
    cp "$REPO/Cargo.lock" "$work/repo/Cargo.lock"
    cp "$REPO/$INC_REL" "$work/repo/$INC_REL"
    git -C "$work/repo" init -q && git -C "$work/repo" add Cargo.lock
}

# expect_fail NAME PATTERN: the check must exit 1 and print PATTERN.
expect_fail() {
    local out
    if out=$("$GEN" --repo "$work/repo" 2>&1); then fail "$1: check passed, expected a failure"; fi
    grep -qE -- "$2" <<<"$out" || fail "$1: message lacks /$2/:"$'\n'"$out"
    passed=$((passed + 1)); echo "ok: $1"
}

fresh
out=$("$GEN" --repo "$work/repo") || fail "unchanged copy: check failed: $out"
grep -q 'matches Cargo.lock (272 crates)\|matches Cargo.lock ([0-9]* crates)' <<<"$out" || fail "unchanged copy: $out"
passed=$((passed + 1)); echo "ok: unchanged include matches"

# The root package (no source) is not a crate to fetch.
grep -q 'crate://crates.io/gozcu/' "$work/repo/$INC_REL" && fail "the root package gozcu is listed"
passed=$((passed + 1)); echo "ok: root package excluded"

# A checksum altered in the include (first character of the first checksum replaced).
fresh
first=$(python3 - "$work/repo/$INC_REL" <<'PY'
import re, sys
p = sys.argv[1]; s = open(p).read()
m = re.search(r'SRC_URI\[([^\]]+)\.sha256sum\] = "([0-9a-f])', s)
s = s[:m.start(2)] + ("0" if m.group(2) != "0" else "1") + s[m.end(2):]
open(p, "w").write(s)
print(m.group(1))
PY
)
expect_fail "altered checksum" "sha256 differs for $first"

# A crate version bumped in Cargo.lock (name/version mismatch both ways).
fresh
python3 - "$work/repo/Cargo.lock" <<'PY'
import re, sys
p = sys.argv[1]; s = open(p).read()
s = s.replace('name = "libc"\nversion = "', 'name = "libc"\nversion = "9', 1)
open(p, "w").write(s)
PY
expect_fail "version changed in Cargo.lock" "missing from the .inc: libc-9"
expect_fail "version changed in Cargo.lock (old entry)" "not in Cargo.lock any more: libc-"

# A git dependency.
fresh
cat >>"$work/repo/Cargo.lock" <<'LOCK'

[[package]]
name = "somecrate"
version = "0.1.0"
source = "git+https://example.invalid/somecrate.git#0123456789abcdef0123456789abcdef01234567"
LOCK
expect_fail "git dependency" "somecrate 0.1.0 comes from git\+https://example.invalid"

# A registry package without checksum.
fresh
python3 - "$work/repo/Cargo.lock" <<'PY'
import re, sys
p = sys.argv[1]; s = open(p).read()
s = re.sub(r'(name = "libc"\nversion = "[^"]+"\nsource = "[^"]+"\n)checksum = "[0-9a-f]+"\n', r'\1', s, count=1)
open(p, "w").write(s)
PY
expect_fail "missing checksum" "package libc [0-9.]+ has no sha256 checksum"

# --write repairs a stale include.
"$GEN" --repo "$work/repo" --write >/dev/null 2>&1 && fail "--write accepted a Cargo.lock without checksum"
fresh
sed -i '$d' "$work/repo/$INC_REL"
expect_fail "truncated include" "missing from the .inc|formatting or order differs"
"$GEN" --repo "$work/repo" --write >/dev/null
"$GEN" --repo "$work/repo" >/dev/null || fail "--write did not produce a matching include"
passed=$((passed + 1)); echo "ok: --write regenerates"

echo "test_gen_crates_inc: $passed passed, 0 failed"
