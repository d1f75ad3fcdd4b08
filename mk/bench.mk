# Benchmarks (docs/benchmarks.md): release builds of the daemon and the bench binaries, ONNX
# Runtime in a cached venv as the reference, drivers in benches/*.py (standard library).
# Included by the top-level Makefile, which defines SHELL, CARGO and the apt_install macro.
#
#   make bench            everything below, one after the other (never in parallel: the
#                         figures are timings), then target/bench/summary.md
#   make bench-detector   tract vs ONNX Runtime, 1 and 2 threads, interleaved rounds
#   make bench-pipeline   per-frame steps of a 1280x720 frame (decode, convert, motion, ...)
#   make bench-startup    spawn to READY=1, with and without the model
#   make bench-resources  idle / busy CPU per camera and RSS of the real daemon
#
# Quick run: make bench BENCH_WINDOW=10 BENCH_ROUNDS=2 BENCH_RUNS=10 BENCH_REPEATS=5
# Results: JSON per bench in $(BENCH_OUT); GOZCU_BIN=path/to/gozcu measures that binary.

# python3-venv: the ONNX Runtime venv; the drivers themselves need only python3.
BENCH_PKGS := python3 python3-venv
BENCH_OUT ?= $(CURDIR)/target/bench
BENCH_VENV ?= $(CURDIR)/target/bench-venv
# Sampling window of each daemon scenario, seconds.
BENCH_WINDOW ?= 60
# Detector: rounds x runs per backend and thread count.
BENCH_ROUNDS ?= 5
BENCH_RUNS ?= 20
BENCH_THREADS ?= 1,2
# Pipeline step timings per step.
BENCH_PIPELINE_RUNS ?= 100
# Start-ups per variant.
BENCH_REPEATS ?= 7
BENCH_GOZCU = $${GOZCU_BIN:-$(BENCH_OUT)/gozcu}

.PHONY: bench-deps bench-venv bench-build bench-detector bench-pipeline bench-startup \
	bench-resources bench-summary

bench-deps:
	@$(call apt_install,$(BUILD_PKGS) $(BENCH_PKGS))

# Reused between runs; rebuilt when benches/requirements.txt changes.
bench-venv: $(BENCH_VENV)/.installed
$(BENCH_VENV)/.installed: benches/requirements.txt
	@$(call apt_install,$(BENCH_PKGS))
	rm -rf $(BENCH_VENV)
	python3 -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install -q --disable-pip-version-check -r benches/requirements.txt
	touch $@

# Release profile (the bench profile inherits it). Every `cargo bench` also links a
# target/release/gozcu with the dev-dependencies' features (tokio test-util), so the daemon
# is built after the benches and copied aside: the binary measured is the one `make build`
# ships.
bench-build: bench-deps
	$(CARGO) bench --no-run --bench detector --bench pipeline
	@if [ -z "$${GOZCU_BIN:-}" ]; then \
	  $(CARGO) build --release --bin gozcu && mkdir -p $(BENCH_OUT) && \
	  cp $${CARGO_TARGET_DIR:-target}/release/gozcu $(BENCH_OUT)/gozcu; \
	fi

bench-detector: bench-build bench-venv
	python3 benches/detector_vs_ort.py --tract "$(CARGO) bench -q --bench detector --" \
	  --python $(BENCH_VENV)/bin/python --rounds $(BENCH_ROUNDS) --runs $(BENCH_RUNS) \
	  --threads $(BENCH_THREADS) --out $(BENCH_OUT)/detector.json

bench-pipeline: bench-build
	mkdir -p $(BENCH_OUT)
	$(CARGO) bench -q --bench pipeline -- --runs $(BENCH_PIPELINE_RUNS) > $(BENCH_OUT)/pipeline.json
	@echo "wrote $(BENCH_OUT)/pipeline.json"

bench-startup: bench-build
	python3 benches/startup.py --gozcu "$(BENCH_GOZCU)" --repeats $(BENCH_REPEATS) \
	  --out $(BENCH_OUT)/startup.json

bench-resources: bench-build
	python3 benches/resources.py --gozcu "$(BENCH_GOZCU)" --window $(BENCH_WINDOW) \
	  --out $(BENCH_OUT)/resources.json

bench-summary:
	python3 benches/report.py $(BENCH_OUT) > $(BENCH_OUT)/summary.md
	@cat $(BENCH_OUT)/summary.md

# Sub-makes one after the other, so `make -j bench` cannot run two benches at once. The
# WebSocket fan-out / end-to-end benches (`bench-fanout`) run when their makefile is there.
bench:
	@$(MAKE) --no-print-directory bench-build bench-venv
	@$(MAKE) --no-print-directory bench-detector
	@$(MAKE) --no-print-directory bench-pipeline
	@$(MAKE) --no-print-directory bench-startup
	@$(MAKE) --no-print-directory bench-resources
	@if $(MAKE) --no-print-directory -n bench-fanout >/dev/null 2>&1; then \
	  $(MAKE) --no-print-directory bench-fanout; \
	else echo "bench-fanout is not defined; WebSocket fan-out and end-to-end benches skipped"; fi
	@$(MAKE) --no-print-directory bench-summary
