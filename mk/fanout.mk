# Event delivery benchmarks and the soak (docs/benchmarks.md, "WebSocket fan-out" and "End to
# end"; docs/testing.md, "Soak"). Included by the top-level Makefile, which defines SHELL,
# CARGO, GOZCU_SHARED and the apt_install macro.
#   make bench-fanout   both benchmarks below (part of `make bench`)
#   make bench-ws       WebSocket fan-out, 100 and 1000 clients: gozcu's server vs Node.js + npm ws
#   make bench-e2e      replay camera -> event on a WebSocket client, through the real daemon
#   make soak           the real daemon for SOAK_MINUTES (30) with SOAK_CLIENTS (200) clients
#                       connecting, leaving and resuming at random; not part of `make test`
# Figures of every run go to $(BENCH_OUT)/fanout.jsonl and e2e.jsonl; the summary tables
# (median and min-max over the repeats) are printed and kept in fanout.md and e2e.md there.
# GOZCU_BIN=path/to/gozcu makes bench-e2e measure that binary (no build); otherwise it
# measures $(BENCH_OUT)/gozcu, a copy of the release build.

FANOUT_DIR := benches/fanout
FANOUT_CLIENTS ?= 100,1000
FANOUT_REPEATS ?= 5
E2E_REPEATS ?= 5
E2E_SECONDS ?= 60
SOAK_MINUTES ?= 30
SOAK_CLIENTS ?= 200
BENCH_OUT ?= $(CURDIR)/target/bench
FANOUT_GOZCU = $${GOZCU_BIN:-$(BENCH_OUT)/gozcu}

.PHONY: bench-fanout bench-ws bench-e2e fanout-node

# The reference server needs Node.js >= 20 (Debian's nodejs and npm when missing, as in
# mk/browser.mk) and npm ws, pinned by benches/fanout/package-lock.json.
fanout-node:
	@if ! command -v node >/dev/null || ! command -v npm >/dev/null; then \
	  $(call apt_install,nodejs npm); \
	fi
	@node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' \
	  || { echo "bench-ws needs Node.js >= 20; found $$(node --version)"; exit 1; }
	cd $(FANOUT_DIR) && npm ci --no-audit --no-fund --loglevel=error

bench-ws: build-deps fanout-node
	mkdir -p $(BENCH_OUT)
	$(CARGO) bench -q --bench fanout -- fanout --clients $(FANOUT_CLIENTS) \
	  --repeats $(FANOUT_REPEATS) --json $(BENCH_OUT)/fanout.jsonl | tee $(BENCH_OUT)/fanout.md

# Every `cargo bench` also links a target/release/gozcu with the dev-dependencies'
# features, so the daemon is built after the bench and copied aside (as mk/bench.mk does):
# the binary measured is the one `make build` ships.
bench-e2e: build-deps
	$(CARGO) bench --no-run --bench fanout
	@if [ -z "$${GOZCU_BIN:-}" ]; then \
	  $(CARGO) build --release --bin gozcu && mkdir -p $(BENCH_OUT) && \
	  cp $${CARGO_TARGET_DIR:-target}/release/gozcu $(BENCH_OUT)/gozcu; \
	fi
	$(CARGO) bench -q --bench fanout -- e2e --gozcu "$(FANOUT_GOZCU)" \
	  --repeats $(E2E_REPEATS) --seconds $(E2E_SECONDS) --json $(BENCH_OUT)/e2e.jsonl \
	  | tee $(BENCH_OUT)/e2e.md

bench-fanout: bench-ws bench-e2e

# tests/soak.rs, soak_long (ignored in `cargo test`); the 60 s variant soak_short runs in
# `make test` with the other integration tests. The dev profile shares its build with
# `make test`; SOAK_CARGO_FLAGS=--release soaks the release build instead.
SOAK_CARGO_FLAGS ?=
soak: build-deps
	SOAK_MINUTES=$(SOAK_MINUTES) SOAK_CLIENTS=$(SOAK_CLIENTS) \
	  $(CARGO) test $(SOAK_CARGO_FLAGS) --test soak -- --ignored --exact soak_long --nocapture
