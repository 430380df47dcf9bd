# Rapport: `make help` lists the targets. The local stack (Tansu + ClickHouse) is started by
# deploy/local/stack.sh; its settings (ports, state directory) are RAPPORT_STACK_* variables.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

STACK := deploy/local/stack.sh
CARGO ?= cargo
NEXTEST_PROFILE ?= default
NEXTEST := $(CARGO) nextest run --workspace --config-file .ci/nextest.toml

.PHONY: help up down status test test-unit lint fmt bench demo build fuzz nextest

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

up: ## Install what is missing and start the local broker and ClickHouse (safe to run twice)
	@$(STACK) up

down: ## Stop exactly the processes `make up` started
	@$(STACK) down

status: ## Say what of the local stack runs
	@$(STACK) status

build: ## Build every crate (debug)
	$(CARGO) build --workspace --all-targets

nextest:
	@command -v cargo-nextest >/dev/null || $(CARGO) install cargo-nextest --locked

test: nextest up ## Start the stack if needed and run the whole suite (unit + integration) with nextest
	$(NEXTEST) --profile $(NEXTEST_PROFILE)
	$(CARGO) test --workspace --doc

test-unit: nextest ## Only the tests that need no running stack
	$(NEXTEST) --lib --bins

lint: ## Exactly what CI checks: formatting and clippy with warnings as errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt: ## Format the code
	$(CARGO) fmt --all

bench: up ## Run the benchmarks (results: docs/BENCHMARKS.md)
	$(CARGO) bench --workspace

demo: up ## Generate a day of traffic for 300 customers into the local stack and show the result
	@deploy/local/demo.sh
