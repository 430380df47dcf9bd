# Rapport: `make help` lists the targets. The local stack (Tansu + ClickHouse) is started by
# deploy/local/stack.sh; its settings (ports, state directory) are RAPPORT_STACK_* variables.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

STACK := deploy/local/stack.sh
CARGO ?= cargo
NEXTEST_PROFILE ?= default
NEXTEST := $(CARGO) nextest run --workspace --config-file .ci/nextest.toml

FUZZ_SECONDS ?= 300
FUZZ_SMOKE_SECONDS ?= 10
# Per-input time limit (s): an input that takes longer is a failure, so a super-linear pass in
# an adapter shows up as a fuzz finding, not as a stalled normalizer in production.
FUZZ_INPUT_TIMEOUT ?= 2
# Large enough that a quadratic pass over a body takes seconds, not milliseconds.
FUZZ_MAX_LEN ?= 262144
FUZZ_TARGETS := email:rfc822,sendgrid,mailgun,ses chat:intercom,chatwoot review:google,yelp,trustpilot support:zendesk,freshdesk generic:generic


.PHONY: help up down status bins test test-unit test-cluster cluster-deps lint audit cargo-deny fmt bench bench-read demo build fuzz fuzz-smoke nextest cargo-fuzz sqlcheck chdb oracles soak deps tls-deps browser-deps promtool test-browser screenshots test-rules

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

up: ## Install what is missing and start the local broker and ClickHouse (safe to run twice)
	@$(STACK) up

down: ## Stop exactly the processes `make up` started
	@$(STACK) down

status: ## Say what of the local stack runs
	@$(STACK) status

deps: ## Install the system libraries the build links (OpenSSL, libcurl: librdkafka's TLS and OAuth)
	@$(STACK) build-deps

tls-deps: ## Install what the TLS tests run besides the stack (stunnel)
	@$(STACK) tls-tools

browser-deps: ## Install Debian's chromium for the browser tests
	@$(STACK) browser

promtool: ## Install promtool (Debian's prometheus) for the alert rules' tests
	@$(STACK) promtool

build: deps ## Build every crate (debug)
	$(CARGO) build --workspace --all-targets

# The end-to-end tests run the services as processes from target/debug. nextest builds a
# package's binaries only when that package has integration tests of its own, so a service
# whose tests live in rapport-e2e (rapport-sla) would be missing on a fresh clone.
bins: deps
	$(CARGO) build --workspace --bins

nextest:
	@command -v cargo-nextest >/dev/null || $(CARGO) install cargo-nextest --locked

# The fuzz smoke run goes first so nextest's summary is the suite's closing line.
test: deps tls-deps promtool nextest oracles lint bins up ## Start the stack if needed and run the whole suite (unit + integration + TLS + a short fuzz run)
	@$(MAKE) --no-print-directory sqlcheck
	@$(MAKE) --no-print-directory fuzz-smoke
	$(NEXTEST) --profile $(NEXTEST_PROFILE)

# The web pages in headless Chromium (crates/rapport-api/tests/browser.rs): their own target, so
# `make test` needs no browser. Screenshots go under target/tmp/screenshots.
BROWSER_TEST := $(CARGO) test -p rapport-api --features browser-tests --test browser

test-browser: deps browser-deps up ## The web pages in headless Chromium (installs chromium)
	$(BROWSER_TEST)

screenshots: deps browser-deps up ## Screenshots of the web pages into docs/screenshots/
	RAPPORT_SCREENSHOTS=$(CURDIR)/docs/screenshots $(BROWSER_TEST)

test-rules: promtool ## promtool check and unit tests of the alert rules (also part of make test)
	promtool check rules deploy/prometheus/rules.yml
	cd deploy/prometheus && promtool test rules tests/rules.test.yml

cluster-deps: ## Install what the cluster tests run besides the stack (ZooKeeper: Debian's zookeeperd)
	@$(STACK) cluster-deps

# The cluster tests start their own ZooKeeper and ClickHouse servers (two shards, or one shard of
# two replicas) and use the local stack's broker; `make test` skips them (they are #[ignore]d).
test-cluster: deps nextest cluster-deps bins up ## The ClickHouse cluster tests (ZooKeeper + several 18.16 servers on loopback)
	$(NEXTEST) --profile $(NEXTEST_PROFILE) --run-ignored only -E 'binary(cluster)'

test-unit: deps nextest ## Only the tests that need no running stack
	$(NEXTEST) --lib --bins

CARGO_DENY_VERSION := 0.20.2

cargo-deny:
	@command -v cargo-deny >/dev/null || $(CARGO) install cargo-deny --locked --version $(CARGO_DENY_VERSION)

lint: deps cargo-deny ## Exactly what CI checks: formatting, clippy with warnings as errors, licences and sources (deny.toml), advisories
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) deny --log-level error --all-features check licenses bans sources
	@$(MAKE) --no-print-directory audit

# RustSec's database is a git repository on github.com. When it cannot be fetched, the copy from
# the last fetch is used, and with none the check says loudly that it did not run
# (RAPPORT_REQUIRE_AUDIT=1 makes that an error).
audit: cargo-deny ## Known vulnerabilities in the dependency tree (RustSec advisory database, deny.toml)
	@if $(CARGO) deny --log-level error fetch db; then \
	  $(CARGO) deny --log-level error --offline check advisories; \
	elif ls -d $${CARGO_HOME:-$$HOME/.cargo}/advisory-dbs/advisory-db-* >/dev/null 2>&1; then \
	  echo "audit: the advisory database could not be fetched; checking against the copy from the last fetch" >&2; \
	  $(CARGO) deny --log-level error --offline check advisories; \
	else \
	  echo "audit: the advisory database (github.com/RustSec/advisory-db) could not be fetched and there is no earlier copy: advisories NOT checked" >&2; \
	  test -z "$${RAPPORT_REQUIRE_AUDIT:-}"; \
	fi

fmt: ## Format the code
	$(CARGO) fmt --all

SOAK_CUSTOMERS ?= 1500

soak: deps nextest bins up ## The whole-pipeline fault tests at 10x size (bounded; stops by itself)
	RAPPORT_TEST_CUSTOMERS=$(SOAK_CUSTOMERS) $(NEXTEST) --profile $(NEXTEST_PROFILE) -p rapport-e2e --test pipeline --run-ignored all

N ?= 1000000

bench-read: deps up chdb ## The read path at N rows (default 1000000): fill through the writer, time every endpoint (18.16 and chDB)
	$(CARGO) build --release -p rapport-writer -p rapport-linker -p rapport-api
	RAPPORT_BENCH_ROWS=$(N) $(CARGO) bench -p rapport-e2e --bench read

bench: deps up ## Run the benchmarks (results: docs/BENCHMARKS.md)
	$(CARGO) build --release --workspace --bins
	$(CARGO) bench --workspace

CHDB_VERSION := 26.9.0

chdb:
	@python3 -c 'import chdb' 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check chdb-core==$(CHDB_VERSION)

# Reference implementations the differential tests compare against, pinned (`pip` spec per
# package). phonenumbers is libphonenumber's Python port with the same metadata release as the
# Rust crate (crates/rapport-model/tests/phone_oracle.rs); businesstimedelta is the business-time
# oracle, with pytz carrying the tz data release the calendar crate bundles
# (crates/rapport-calendar/tests/oracle.rs).
ORACLE_PIP := phonenumbers==9.0.42 businesstimedelta==1.0.1 pytz==2026.6

oracles: ## Install the pinned Python oracle packages the differential tests need
	@missing=""; for spec in $(ORACLE_PIP); do \
	  name=$${spec%%==*}; want=$${spec#*==}; \
	  have=$$(python3 -c "import importlib.metadata as m; print(m.version('$$name'))" 2>/dev/null || true); \
	  [ "$$have" = "$$want" ] || missing="$$missing $$spec"; \
	done; \
	[ -z "$$missing" ] || python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore $$missing

sqlcheck: chdb up ## Run the schema, views and ANALYTICS.md examples on ClickHouse 18.16 and on current ClickHouse (chdb)
	python3 tests/sql/check_sql.py

cargo-fuzz:
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked

# cargo-fuzz needs nightly-only sanitizer flags; RUSTC_BOOTSTRAP lets the stable toolchain
# (the only one these machines have) accept them. Golden payloads seed each target's corpus.
fuzz-smoke: cargo-fuzz ## A short run of every fuzz target (part of `make test`)
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$(FUZZ_SMOKE_SECONDS)

fuzz: cargo-fuzz ## Run every fuzz target for FUZZ_SECONDS (default 300) each
	@cd crates/rapport-channels && for spec in $(FUZZ_TARGETS); do \
	  target=$${spec%%:*}; seeds=""; \
	  for s in $$(echo $${spec#*:} | tr , ' '); do seeds="$$seeds tests/golden/$$s"; done; \
	  mkdir -p fuzz/corpus/$$target; \
	  echo "fuzz: $$target for $(FUZZ_SECONDS)s"; \
	  RUSTC_BOOTSTRAP=1 cargo fuzz run $$target fuzz/corpus/$$target $$seeds -- \
	    -max_total_time=$(FUZZ_SECONDS) -max_len=$(FUZZ_MAX_LEN) -timeout=$(FUZZ_INPUT_TIMEOUT) -print_final_stats=1 2>fuzz/$$target.log \
	    || { tail -n 40 fuzz/$$target.log; echo "fuzz: $$target found a failure (artifacts in crates/rapport-channels/fuzz/artifacts/$$target)"; exit 1; }; \
	  grep -E '^stat::number_of_executed_units' fuzz/$$target.log | sed "s/^/fuzz: $$target /"; \
	done

demo: deps up ## Generate a day of traffic for 300 customers into the local stack and show the result
	@deploy/local/demo.sh
