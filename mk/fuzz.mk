# Fuzzing (fuzz/, docs/testing.md "Fuzzing"): cargo-fuzz and libFuzzer on the five targets.
# Included by the top-level Makefile, which defines SHELL and CARGO.
#   make fuzz-smoke    every target for FUZZ_RUNS inputs, starting from its seed corpus in
#                      fuzz/corpus/<target> (part of `make test`)
#   make fuzz FUZZ_TARGET=http_head FUZZ_SECONDS=3600 [FUZZ_JOBS=2]
#                      a long session on one target (FUZZ_TARGET=all: each in turn)
# Only the stable toolchain is needed: RUSTC_BOOTSTRAP=1 lets it take the nightly-only flags
# cargo-fuzz passes (-Zsanitizer). Builds go to target/fuzz; inputs found on the way to
# target/fuzz/corpus/<target>; a crash reproducer to fuzz/artifacts/<target>/.

CARGO_FUZZ_VERSION := 0.13.2
FUZZ_TARGETS := ws_frames http_head config_toml camera_jpeg replay_file
FUZZ_TARGET ?= all
FUZZ_RUNS ?= 3000
FUZZ_SECONDS ?= 600
FUZZ_JOBS ?= 1
# Long sessions run under AddressSanitizer, which also catches memory errors in the unsafe
# and SIMD code below ours (pixel conversion, resizing); the smoke run does without it (it
# builds and runs about twice as fast, and looks for panics).
FUZZ_SANITIZER ?= address
FUZZ_SMOKE_SANITIZER ?= none
FUZZ_DIR := $(CURDIR)/target/fuzz
FUZZ := RUSTC_BOOTSTRAP=1 $(CARGO) fuzz
# The smoke run uses a debug build (--dev): far cheaper to compile cold than cargo-fuzz's
# default (an optimised build with one codegen unit per crate), which long sessions want for
# its speed. Both keep debug assertions and overflow checks on.
FUZZ_SMOKE_FLAGS := --dev --sanitizer $(FUZZ_SMOKE_SANITIZER) --target-dir $(FUZZ_DIR)
FUZZ_LONG_FLAGS := --sanitizer $(FUZZ_SANITIZER) --target-dir $(FUZZ_DIR)

.PHONY: fuzz-deps fuzz-smoke fuzz

# cargo-fuzz from crates.io, pinned; built once into ~/.cargo/bin (about a minute).
fuzz-deps:
	@if [ "$$($(CARGO) fuzz --version 2>/dev/null)" != "cargo-fuzz $(CARGO_FUZZ_VERSION)" ]; then \
	  $(CARGO) install cargo-fuzz --version $(CARGO_FUZZ_VERSION) --locked; \
	fi

# -seed fixes libFuzzer's choices, so a smoke run tries the same inputs every time. Each
# run's output goes to target/fuzz/smoke-<target>.log; on a failure its end is printed.
fuzz-smoke: fuzz-deps
	$(FUZZ) build $(FUZZ_SMOKE_FLAGS)
	@for t in $(FUZZ_TARGETS); do \
	  rm -rf $(FUZZ_DIR)/smoke-corpus/$$t && mkdir -p $(FUZZ_DIR)/smoke-corpus/$$t; \
	  log=$(FUZZ_DIR)/smoke-$$t.log; \
	  if $(FUZZ) run $(FUZZ_SMOKE_FLAGS) $$t $(FUZZ_DIR)/smoke-corpus/$$t fuzz/corpus/$$t -- \
	      -runs=$(FUZZ_RUNS) -seed=1 -max_len=8192 -timeout=30 -print_final_stats=1 \
	      >$$log 2>&1; then \
	    echo "fuzz-smoke: $$t: $$(grep -E '^Done' $$log)"; \
	  else \
	    tail -n 60 $$log; \
	    echo "fuzz-smoke: $$t FAILED; the input is in fuzz/artifacts/$$t/ (RUSTC_BOOTSTRAP=1 cargo fuzz run --dev $$t <file>)"; \
	    exit 1; \
	  fi; \
	done
	@echo "fuzz-smoke: all targets passed"

fuzz: fuzz-deps
	@targets="$(FUZZ_TARGET)"; [ "$$targets" = all ] && targets="$(FUZZ_TARGETS)"; \
	for t in $$targets; do \
	  mkdir -p $(FUZZ_DIR)/corpus/$$t; \
	  echo "fuzz: $$t for $(FUZZ_SECONDS) s"; \
	  $(FUZZ) run $(FUZZ_LONG_FLAGS) --jobs $(FUZZ_JOBS) $$t $(FUZZ_DIR)/corpus/$$t fuzz/corpus/$$t -- \
	    -max_total_time=$(FUZZ_SECONDS) -max_len=65536 || exit 1; \
	done
