# Browser suite (tests/browser; docs/protocol.md, "Browser client"): the built-in dashboard, client.js
# and react.js in Debian's Chromium driven by npm playwright-core (no browser download),
# against the real daemon with replay cameras and the shared model. Included by the
# top-level Makefile, which defines SHELL, CARGO and the apt_install macro.
#   make browser-test   unit tests of client.js (no browser), then the Chromium suite
#   make browser-unit   only the unit tests
# GOZCU_BIN=path/to/gozcu tests that binary instead of building target/debug/gozcu.
# Screenshots and daemon logs land in tests/browser/output/.

# chromium: the browser (/usr/bin/chromium); fonts-dejavu-core: a font for the page text.
# Node.js >= 20 with npm is needed too; it is installed from Debian only when missing (a
# NodeSource nodejs already carries npm, and Debian's npm package would conflict with it).
BROWSER_TEST_PKGS := chromium fonts-dejavu-core
BROWSER_DIR := tests/browser
NODE_TEST := node --test --test-concurrency=1 --test-timeout=300000

.PHONY: browser-deps browser-npm browser-test browser-unit

browser-deps:
	@$(call apt_install,$(BROWSER_TEST_PKGS))
	@if ! command -v node >/dev/null || ! command -v npm >/dev/null; then \
	  $(call apt_install,nodejs npm); \
	fi
	@node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 11) ? 0 : 1)' \
	  || { echo "browser tests need Node.js >= 20.11 (node:test mock timers, --test-timeout); found $$(node --version)"; exit 1; }

# npm ci installs exactly package-lock.json (playwright-core, react 18 for the hook page).
browser-npm: browser-deps
	cd $(BROWSER_DIR) && npm ci --no-audit --no-fund --loglevel=error

browser-unit: browser-npm
	cd $(BROWSER_DIR) && $(NODE_TEST) unit/

browser-test: browser-npm
	@if [ -z "$${GOZCU_BIN:-}" ]; then $(MAKE) --no-print-directory daemon-bin; fi
	cd $(BROWSER_DIR) && $(NODE_TEST) unit/ e2e/
