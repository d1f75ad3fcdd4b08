# gozcu developer entry points. On a fresh Debian/Ubuntu machine with Rust:
#   make demo   run the daemon on config/demo.toml (no hardware needed)
#   make test   install test packages and run every test suite
#   make bench  benchmarks, results summarized in docs/benchmarks.md
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
CARGO ?= cargo
# Test data and the development model live beside the checkout (never in the repo).
SHARED ?= $(abspath ../shared)
export GOZCU_SHARED := $(SHARED)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Packages needed to build (bindgen for the v4l crate needs libclang).
BUILD_PKGS := libclang-dev pkg-config
# Suites live in mk/*.mk; each names the Debian packages it needs.
include mk/packaging.mk
include mk/vm.mk
include mk/rknn.mk
include mk/browser.mk
include mk/fuzz.mk
include mk/bench.mk
include mk/fanout.mk
# Packages the test suites need on top of the build ones (python3: the accuracy test runs
# ../shared/reference/score_persons.py, standard library only).
TEST_PKGS := $(BUILD_PKGS) python3 $(PACKAGING_TEST_PKGS) $(VM_TEST_PKGS) \
	$(RKNN_TEST_PKGS) $(BROWSER_TEST_PKGS)

# Installs the Debian packages in $(1) that are not installed yet.
define apt_install
missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
if [ -n "$$missing" ]; then \
  echo "installing:$$missing"; \
  $(SUDO) apt-get update -qq; \
  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
fi
endef

.PHONY: all build build-deps test-deps demo test lint unit daemon-bin bench soak clean

all: build

build-deps:
	@$(call apt_install,$(BUILD_PKGS))

test-deps:
	@$(call apt_install,$(TEST_PKGS))

build: build-deps
	$(CARGO) build --release

# Runs the daemon on the demo config; Ctrl-C stops it cleanly. The dev profile is used on
# purpose: dependencies are optimised there too (Cargo.toml), it shares its build with
# `make test`, and a first build takes minutes instead of a release build's half hour.
demo: build-deps
	$(CARGO) run --bin gozcu -- run --config config/demo.toml

test: test-deps lint unit rknn-lint rknn-test packaging-check vm-test browser-test fuzz-smoke
	@echo "make test: all suites passed"

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) clippy --no-default-features --all-targets -- -D warnings
	$(CARGO) fmt --manifest-path fuzz/Cargo.toml -- --check

unit:
	$(CARGO) test --all-targets

# target/debug/gozcu as the test suites build it. `cargo test` builds the binary for the
# integration tests with the dev-dependency features unified in (tokio's test-util, ...); a
# plain `cargo build` would compile tokio, hyper, tract and what depends on them a second
# time with other features (~1.5 min), so the VM and browser suites take this one.
daemon-bin:
	$(CARGO) test --no-run --test daemon_e2e

clean:
	$(CARGO) clean
