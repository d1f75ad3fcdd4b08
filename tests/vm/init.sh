#!/bin/sh
# /init of the gozcu test VM (busybox ash, PID 1). Brings up the network (QEMU user net),
# loads vivid, starts a control shell on TCP 2323 for the host test driver and, unless
# `gozcu.run=0` is on the kernel command line, the gozcu daemon.
#
# Kernel command line options read here:
#   gozcu.vivid=P1:P2    vivid module parameters, ':'-separated (e.g. multiplanar=2)
#   gozcu.run=0          do not start the daemon (infrastructure smoke test, debugging)
# Lines starting with "gozcu-vm:" on the console are markers the host driver waits for.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /tmp /run
mount -t devpts devpts /dev/pts
mark() { echo "gozcu-vm: $* (uptime $(cut -d' ' -f1 /proc/uptime))" > /dev/console; }
mark init

vivid_params=""
run=1
# shellcheck disable=SC2013 # the command line is one line of space-separated words
for arg in $(cat /proc/cmdline); do
	case "$arg" in
	gozcu.vivid=*) vivid_params=$(echo "${arg#gozcu.vivid=}" | tr ':' ' ') ;;
	gozcu.run=*) run=${arg#gozcu.run=} ;;
	esac
done

# Network: QEMU user networking always hands out 10.0.2.15 with the gateway at 10.0.2.2,
# so a static address saves a DHCP round trip.
modprobe e1000 || mark "modprobe e1000 failed"
ip link set lo up
if ! { ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0 && ip route add default via 10.0.2.2; }; then
	mark "eth0 setup failed"
fi

# shellcheck disable=SC2086 # the parameters are separate words on purpose
modprobe vivid $vivid_params || mark "modprobe vivid failed"
echo "$vivid_params" > /run/vivid-params

# Control channel: every connection gets a shell (the VM is a throwaway test box).
# Stderr of that shell goes to the console, so the driver wraps commands in `2>&1`.
(while :; do nc -ll -p 2323 -e /bin/sh; sleep 1; done) </dev/null >/dev/null 2>&1 &
mark "ready video=$(echo /dev/video*)"

if [ "$run" != 0 ]; then
	mkdir -p /tmp/gozcu
	# Log to a file (read over the control channel) and mirror it on the console.
	: > /tmp/gozcu.log
	tail -f /tmp/gozcu.log > /dev/console 2>&1 &
	(
		cd /tmp || exit 1
		mark "starting gozcu"
		/usr/bin/gozcu run --config /etc/gozcu/gozcu.toml >> /tmp/gozcu.log 2>&1
		rc=$?
		echo "$rc" > /tmp/gozcu.exit
		sleep 1
		mark "gozcu exited rc=$rc"
	) &
fi

# PID 1 must never exit (that panics the kernel).
while :; do sleep 3600; done
