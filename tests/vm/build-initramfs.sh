#!/usr/bin/env bash
# Builds the initramfs for the gozcu VM test: Debian's linux-image-amd64 kernel modules for
# vivid and e1000 (only what `modprobe --show-depends` lists), busybox-static, v4l2-ctl
# (v4l-utils: sets vivid's error-injection controls), init.sh as /init, and optionally the gozcu binary (stripped, with the shared libraries ldd lists)
# plus its config.
#
# The image is two concatenated cpio archives (the kernel unpacks them in turn): a base part
# (busybox, modules, /init) and a gozcu part (binary, libraries, config), each cached under
# tests/vm/work/ keyed by a hash of its inputs, so a rebuilt gozcu only repacks its part.
#
# Usage: build-initramfs.sh [--gozcu BIN --config FILE] [--work DIR]
# Prints two lines: KERNEL=<vmlinuz path> and INITRD=<initramfs path>.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
work=$here/work
gozcu=""
config=""
while [ $# -gt 0 ]; do
	case "$1" in
	--gozcu) gozcu=$2; shift 2 ;;
	--config) config=$2; shift 2 ;;
	--work) work=$2; shift 2 ;;
	*) echo "build-initramfs.sh: unknown argument '$1'" >&2; exit 2 ;;
	esac
done
if [ -n "$gozcu" ] && [ -z "$config" ]; then
	echo "build-initramfs.sh: --gozcu needs --config (the daemon's config file)" >&2
	exit 2
fi
die() { echo "build-initramfs.sh: $*" >&2; exit 1; }
for tool in cpio depmod modprobe ldd strip readelf sha256sum; do
	command -v "$tool" >/dev/null || die "'$tool' not found; run 'make vm-test' (it installs the VM test packages)"
done
[ -x /bin/busybox ] || die "/bin/busybox missing; install busybox-static"
v4l2ctl=$(command -v v4l2-ctl) || die "v4l2-ctl missing; install v4l-utils (make vm-test does)"

# The kernel is the one linux-image-amd64 depends on, not the running one (a container's
# kernel is the host's).
kpkg=$(dpkg-query -W -f='${Depends}' linux-image-amd64 2>/dev/null | sed -n 's/^\(linux-image-[^ ,]*\).*/\1/p') ||
	true
[ -n "$kpkg" ] || die "linux-image-amd64 is not installed; install it with apt-get"
kver=${kpkg#linux-image-}
kernel=/boot/vmlinuz-$kver
[ -r "$kernel" ] || die "$kernel missing or unreadable (package $kpkg)"
[ -d "/lib/modules/$kver" ] || die "/lib/modules/$kver missing (package $kpkg)"

mkdir -p "$work"
# Deletes cached files matching $1 except $2: entries for older inputs are never used again.
prune() { find "$work" -maxdepth 1 -name "$1" ! -name "$(basename "$2")" -delete; }

# Boot the uncompressed ELF kernel when it has a PVH entry note: QEMU then jumps straight
# into it, skipping the in-guest xz decompression of the bzImage (about 7 s under TCG).
# Same approach as the kernel's scripts/extract-vmlinux.
extract_vmlinux() {
	local img=$1 out=$2 magic pos
	for magic in '\xfd7zXZ\x00:xz -dc' '\x1f\x8b\x08:gzip -dc' '\x28\xb5\x2f\xfd:zstd -qdc'; do
		command -v "${magic#*:}" >/dev/null 2>&1 || command -v "$(echo "${magic#*:}" | cut -d' ' -f1)" >/dev/null || continue
		for pos in $(LC_ALL=C grep -aboP "${magic%%:*}" "$img" | cut -d: -f1 | head -5); do
			# The compressed stream is followed by more bzImage data: ignore the
			# decompressor's complaint and check the result instead.
			tail -c +$((pos + 1)) "$img" | ${magic#*:} > "$out.tmp" 2>/dev/null || true
			if [ "$(head -c 4 "$out.tmp" | od -An -c | tr -d ' ')" = '177ELF' ] &&
				readelf -n "$out.tmp" 2>/dev/null | grep -q 'Unknown note type: (0x00000012)'; then
				mv "$out.tmp" "$out"
				prune 'vmlinux-*' "$out"
				return 0
			fi
		done
	done
	rm -f "$out.tmp"
	return 1
}
vmlinux=$work/vmlinux-$kver-$(sha256sum "$kernel" | cut -c1-16)
if [ -s "$vmlinux" ] || extract_vmlinux "$kernel" "$vmlinux"; then
	kernel=$vmlinux
else
	echo "build-initramfs.sh: note: no PVH-bootable vmlinux in $kernel; booting the bzImage (slower)" >&2
fi

hash_of() { sha256sum "$@" | cut -d" " -f1 | sha256sum | cut -c1-16; }

# Shared libraries a dynamically linked program needs, with the loader (ldd prints it by
# full path); nothing for a static one.
libs_of() {
	ldd "$1" >/dev/null 2>&1 || return 0
	ldd "$1" | awk '/=> \// { print $3 } /^\t\// { print $1 }' | sort -u
}

# Copies libraries (by their resolved contents) under the root $1, plus the loader at the
# path x86_64 binaries have baked in (/lib64/ld-linux-x86-64.so.2).
copy_libs() {
	local root=$1 lib
	shift
	for lib in "$@"; do
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done
	if [ -e "$root/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" ] && [ ! -e "$root/lib64/ld-linux-x86-64.so.2" ]; then
		mkdir -p "$root/lib64"
		cp "$root/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" "$root/lib64/"
	fi
}

# Module list in load order (insmod lines of --show-depends).
modules=$(for m in vivid e1000; do modprobe -S "$kver" --show-depends "$m"; done |
	awk '$1 == "insmod" { print $2 }' | awk '!seen[$0]++')
[ -n "$modules" ] || die "modprobe -S $kver --show-depends vivid listed no modules"

# ---- base part -------------------------------------------------------------------------
v4l2ctl_libs=$(libs_of "$v4l2ctl")
# shellcheck disable=SC2086 # one path per word
base_key=$(hash_of "$0" "$here/init.sh" /bin/busybox "$v4l2ctl" $v4l2ctl_libs $modules "/lib/modules/$kver/modules.builtin")
base=$work/base-$kver-$base_key.cpio
if [ ! -s "$base" ]; then
	root=$(mktemp -d "$work/base-root.XXXXXX")
	trap 'rm -rf "$root"' EXIT
	mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,run,root}
	cp /bin/busybox "$root/bin/busybox"
	for applet in $(/bin/busybox --list); do
		[ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
	done
	install -m 0755 "$here/init.sh" "$root/init"
	strip --strip-debug -o "$root/usr/bin/v4l2-ctl" "$v4l2ctl"
	# shellcheck disable=SC2086
	copy_libs "$root" $v4l2ctl_libs
	for m in $modules; do
		rel=${m#/lib/modules/"$kver"/}
		dest=$root/lib/modules/$kver/${rel%.xz}
		dest=${dest%.zst}
		mkdir -p "$(dirname "$dest")"
		# busybox insmod cannot read compressed modules: store them plain.
		case "$m" in
		*.xz) xz -dc "$m" > "$dest" ;;
		*.zst) zstd -qdc "$m" > "$dest" ;;
		*) cp "$m" "$dest" ;;
		esac
	done
	for f in modules.order modules.builtin modules.builtin.modinfo; do
		cp "/lib/modules/$kver/$f" "$root/lib/modules/$kver/"
	done
	depmod -b "$root" "$kver"
	(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) > "$base.tmp"
	mv "$base.tmp" "$base"
	prune 'base-*.cpio' "$base"
	rm -rf "$root"
	trap - EXIT
fi

if [ -z "$gozcu" ]; then
	echo "KERNEL=$kernel"
	echo "INITRD=$base"
	exit 0
fi

# ---- gozcu part ------------------------------------------------------------------------
[ -x "$gozcu" ] || die "gozcu binary '$gozcu' not found or not executable; build it first (cargo build)"
[ -r "$config" ] || die "config '$config' not readable"
libs=$(libs_of "$gozcu")
# shellcheck disable=SC2086
gozcu_key=$(hash_of "$0" "$gozcu" "$config" $libs)
part=$work/gozcu-$gozcu_key.cpio
if [ ! -s "$part" ]; then
	root=$(mktemp -d "$work/gozcu-root.XXXXXX")
	trap 'rm -rf "$root"' EXIT
	mkdir -p "$root/usr/bin" "$root/etc/gozcu"
	# Debug info is useless in the VM and would cost RAM and unpack time.
	if [ "$(head -c 4 "$gozcu" | od -An -c | tr -d ' ')" = '177ELF' ]; then
		strip --strip-debug -o "$root/usr/bin/gozcu" "$gozcu"
	else
		install -m 0755 "$gozcu" "$root/usr/bin/gozcu" # a script (debugging stand-ins)
	fi
	install -m 0644 "$config" "$root/etc/gozcu/gozcu.toml"
	# shellcheck disable=SC2086
	copy_libs "$root" $libs
	(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) > "$part.tmp"
	mv "$part.tmp" "$part"
	prune 'gozcu-*.cpio' "$part"
	rm -rf "$root"
	trap - EXIT
fi

initrd=$work/initrd-$base_key-$gozcu_key.img
if [ ! -s "$initrd" ]; then
	cat "$base" "$part" > "$initrd.tmp"
	mv "$initrd.tmp" "$initrd"
	prune 'initrd-*.img' "$initrd"
fi
echo "KERNEL=$kernel"
echo "INITRD=$initrd"
