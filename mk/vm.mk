# Real-driver VM suite (tests/vm, docs/testing.md): Debian's kernel under QEMU (TCG, no KVM)
# with vivid, running the gozcu binary on /dev/video0. Included by the top-level Makefile,
# which defines SHELL, CARGO and the apt_install macro.
#   make vm-test    both vivid variants (single- and multi-planar), unplug/replug included
#   make vm-smoke   the VM infrastructure alone (boot, vivid, control shell, forwarding)
# GOZCU_BIN=path/to/gozcu tests that binary instead of building target/debug/gozcu.

# qemu-system-x86: the emulator; linux-image-amd64: kernel and vivid/e1000 modules;
# busybox-static: the initramfs userland; cpio, kmod (depmod/modprobe), binutils (strip):
# building the initramfs; python3: the test driver (standard library only); v4l-utils:
# v4l2-ctl in the guest, to press vivid's error-injection buttons.
VM_TEST_PKGS := qemu-system-x86 linux-image-amd64 busybox-static cpio kmod binutils python3 v4l-utils

.PHONY: vm-deps vm-test vm-smoke

vm-deps:
	@$(call apt_install,$(VM_TEST_PKGS))

vm-test: vm-deps
	@if [ -z "$${GOZCU_BIN:-}" ]; then $(MAKE) --no-print-directory daemon-bin; fi
	python3 tests/vm/run.py --gozcu "$${GOZCU_BIN:-$${CARGO_TARGET_DIR:-target}/debug/gozcu}"

vm-smoke: vm-deps
	python3 tests/vm/run.py --smoke
