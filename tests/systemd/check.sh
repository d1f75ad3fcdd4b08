#!/usr/bin/env bash
# Checks the systemd integration files in systemd/ with the real systemd tools:
#   1. systemd-analyze verify: the unit parses cleanly (any warning fails, e.g. an unknown
#      key or a Type= this systemd does not know) and its commands exist. It runs against a
#      temporary root holding the unit, the distribution's units and stand-ins for
#      /usr/bin/gozcu and /bin/kill, so it needs no installed gozcu.
#   2. systemd-analyze security --offline=true: prints the report and the exposure score;
#      fails if the score is above 2.5 (MAX_EXPOSURE).
#   3. systemd-sysusers --root: the sysusers file creates user gozcu in video and render.
#   4. udevadm test (in a private mount namespace with only our rules): the rules parse.
set -euo pipefail
REPO_ROOT=$(cd "$(dirname "$0")/../.." && pwd)
UNIT=${GOZCU_UNIT:-$REPO_ROOT/systemd/gozcu.service}
SYSUSERS=$REPO_ROOT/systemd/sysusers.d/gozcu.conf
RULES_DIR=$REPO_ROOT/systemd/udev
MAX_EXPOSURE=${MAX_EXPOSURE:-2.5}

fail() { printf 'check-systemd: FAIL: %s\n' "$*" >&2; exit 1; }
for tool in systemd-analyze systemd-sysusers udevadm; do
    command -v "$tool" >/dev/null || fail "$tool not found: apt-get install systemd udev"
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# 1. verify ------------------------------------------------------------------------------
root=$work/root
mkdir -p "$root/etc/systemd/system" "$root/usr/lib/systemd" "$root/usr/bin" "$root/bin"
# The distribution's units provide the targets the unit is ordered against (sysinit.target
# through DefaultDependencies, network.target, multi-user.target).
cp -a "$(readlink -f /lib/systemd/system)" "$root/usr/lib/systemd/system"
printf '#!/bin/sh\nexit 0\n' >"$root/usr/bin/gozcu"
chmod 0755 "$root/usr/bin/gozcu"
cp /bin/kill "$root/bin/kill"
cp "$UNIT" "$root/etc/systemd/system/gozcu.service"
verify_out=$(systemd-analyze verify --root="$root" gozcu.service 2>&1) || \
    fail "systemd-analyze verify exited non-zero: $verify_out"
if [ -n "$verify_out" ]; then
    fail "systemd-analyze verify reported problems:"$'\n'"$verify_out"
fi
echo "check-systemd: systemd-analyze verify: clean ($(systemd-analyze --version | head -1))"

# 2. security ----------------------------------------------------------------------------
report=$work/security.txt
# --threshold takes the score x10; the exit status is checked below from the printed score
# as well, so that the score is shown either way.
systemd-analyze security --offline=true --no-pager "$UNIT" >"$report" 2>&1 || true
score=$(sed -n 's/.*Overall exposure level for gozcu.service: \([0-9.]*\).*/\1/p' "$report")
if [ -z "$score" ]; then
    cat "$report" >&2
    fail "no exposure score in the systemd-analyze security output"
fi
grep -E '^✗' "$report" | sed 's/  */ /g' || true
echo "check-systemd: exposure score $score (limit $MAX_EXPOSURE)"
awk -v s="$score" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(s <= m) }' || \
    fail "exposure score $score is above $MAX_EXPOSURE"

# 3. sysusers ----------------------------------------------------------------------------
users=$work/users
mkdir -p "$users/etc"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$users/etc/passwd"
printf 'root:x:0:\nvideo:x:44:\n' >"$users/etc/group"
systemd-sysusers --root="$users" "$SYSUSERS" >/dev/null 2>&1 || fail "systemd-sysusers rejected $SYSUSERS"
grep -q '^gozcu:x:[0-9]*:[0-9]*:[^:]*:/var/lib/gozcu:/usr/sbin/nologin$' "$users/etc/passwd" || \
    fail "sysusers did not create user gozcu: $(cat "$users/etc/passwd")"
for g in video render; do
    grep -Eq "^$g:x:[0-9]+:(.*,)?gozcu(,.*)?$" "$users/etc/group" || \
        fail "sysusers did not put gozcu into group $g: $(cat "$users/etc/group")"
done
grep -q '^video:x:44:' "$users/etc/group" || fail "sysusers changed the existing video group's id"
echo "check-systemd: sysusers: user gozcu created in groups video and render"

# 4. udev rules --------------------------------------------------------------------------
# udevadm test reads only the standard rules directories, so our rules are mounted over
# /etc/udev/rules.d in a private mount namespace; parse errors name the file and line.
# shellcheck disable=SC2016  # $1 is expanded by the inner sh
udev_out=$(unshare --mount --propagation private -- sh -c '
    mount -t tmpfs tmpfs /etc/udev/rules.d && cp "$1"/*.rules /etc/udev/rules.d/ &&
    udevadm test --action=add /sys/devices/virtual/mem/null 2>&1' sh "$RULES_DIR") || \
    fail "udevadm test failed: $udev_out"
for f in "$RULES_DIR"/*.rules; do
    name=$(basename "$f")
    grep -q "Reading rules file: /etc/udev/rules.d/$name" <<<"$udev_out" || \
        fail "udevadm did not read $name: $udev_out"
    if grep -E "/etc/udev/rules.d/$name:[0-9]+" <<<"$udev_out" >&2; then
        fail "udevadm reported problems in $name (above)"
    fi
done
echo "check-systemd: udev rules parse cleanly"
echo "check-systemd: OK"
