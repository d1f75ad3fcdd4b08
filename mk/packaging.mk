# Packaging checks: systemd unit, Yocto layer, aarch64 build. Included from the Makefile,
# which provides SHELL, SUDO and the apt_install macro.
#
#   make check-systemd   systemd-analyze verify + security score (<= 2.5), sysusers, udev rules
#   make check-layer     crate list vs Cargo.lock, layer.conf and recipe files, oelint-adv
#   make cross-check     aarch64 build in a Debian forky chroot + smoke run under qemu
#                        (first run ~10+ min: debootstrap and a full build; later runs reuse
#                        the chroot and the build in /var/cache/gozcu-board, BOARD_CACHE=...)

# Debian packages the checks need: systemd-analyze/systemd-sysusers (systemd), udevadm
# (udev), the oelint-adv venv (python3-venv), the crate list reads git's file list (git).
PACKAGING_TEST_PKGS := systemd udev python3 python3-venv git
# cross-check: debootstrap for the chroot, qemu-user-static to run the aarch64 binary,
# file/binutils (readelf) to inspect it.
CROSS_CHECK_PKGS := debootstrap qemu-user-static file binutils

.PHONY: check-systemd check-layer cross-check packaging-check

check-systemd:
	@$(call apt_install,systemd udev)
	$(SUDO) tests/systemd/check.sh

check-layer:
	@$(call apt_install,python3 python3-venv git)
	tests/layer/check_layer.sh

# Both quick checks, for `make test`.
packaging-check: check-systemd check-layer

cross-check:
	@$(call apt_install,$(CROSS_CHECK_PKGS))
	$(SUDO) tests/board/cross-check.sh
