# RKNN NPU backend tests (feature `rknn`) against the stub runtime in tests/rknn-stub.
# Included by the top-level Makefile. The stub is a small C librknnrt.so built with $(RKNN_CC)
# into $(RKNN_STUB_OUT); the test binaries link against it (LIBRARY_PATH: rknn-sys-rs asks for
# -lrknnrt) and load it at run time (LD_LIBRARY_PATH). Using env vars rather than RUSTFLAGS
# keeps cargo's build cache valid between `cargo test` and `make rknn-test`.
#
#   make rknn-test                          build the stub, run the rknn tests with the feature
#   make rknn-lint                          clippy with the feature (needs no stub)
#   make rknn-stub RKNN_CC=aarch64-linux-gnu-gcc RKNN_STUB_OUT=$PWD/target/rknn-stub-aarch64
#                                           cross-built stub, for the aarch64 build check

# gcc builds the stub; libclang-dev is for bindgen in rknn-sys-rs (it generates the bindings
# from its vendored rknn_api.h at build time).
RKNN_TEST_PKGS := gcc libc6-dev libclang-dev
RKNN_CC ?= gcc
RKNN_STUB_OUT ?= $(CURDIR)/target/rknn-stub
RKNN_STUB_LIB := $(RKNN_STUB_OUT)/librknnrt.so
# Exported to recipes below so `cargo` runs see the stub.
RKNN_ENV = LIBRARY_PATH="$(RKNN_STUB_OUT)$${LIBRARY_PATH:+:$$LIBRARY_PATH}" \
	LD_LIBRARY_PATH="$(RKNN_STUB_OUT)$${LD_LIBRARY_PATH:+:$$LD_LIBRARY_PATH}"

.PHONY: rknn-stub rknn-test rknn-lint rknn-symbols

rknn-stub:
	$(MAKE) -C tests/rknn-stub CC="$(RKNN_CC)" OUT="$(RKNN_STUB_OUT)"

# The detection unit tests (rknn ones included) and the tests/rknn_*.rs suites with the
# feature on; everything else runs without it in `make unit`.
rknn-test: rknn-stub
	$(RKNN_ENV) $(CARGO) test --features rknn --lib detect::
	$(RKNN_ENV) $(CARGO) test --features rknn --test 'rknn_*'
	@$(MAKE) --no-print-directory rknn-symbols

rknn-lint:
	$(CARGO) clippy --features rknn --all-targets -- -D warnings

# Every rknn_* symbol the daemon binary imports must be one the stub exports, so the stub
# stays an honest stand-in for librknnrt.so.
# The binary comes from `cargo test` (see daemon-bin in the Makefile for why not `cargo build`).
rknn-symbols: rknn-stub
	$(RKNN_ENV) $(CARGO) test --features rknn --no-run --test rknn_daemon
	@need=$$(nm -D --undefined-only target/debug/gozcu | awk '/ rknn_/{print $$2}' | sed 's/@.*//' | sort -u); \
	have=$$(nm -D --defined-only $(RKNN_STUB_LIB) | awk '/ T rknn_/{print $$3}' | sort -u); \
	missing=$$(comm -23 <(echo "$$need") <(echo "$$have")); \
	echo "gozcu imports: $$(echo $$need)"; \
	if [ -z "$$need" ]; then echo "gozcu --features rknn imports no rknn_* symbol"; exit 1; fi; \
	if [ -n "$$missing" ]; then echo "stub lacks: $$missing"; exit 1; fi
