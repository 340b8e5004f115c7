# applied-archive-rule — developer entry points. `make demo` and `make test` need no AWS account.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
CARGO ?= cargo
RELEASE_BOOTSTRAP := $(CURDIR)/target/release/bootstrap

.PHONY: help demo test lint build release clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

demo: ## Show the problem and the fix against a local Access Analyzer emulator (no AWS account)
	$(CARGO) build --quiet --bin bootstrap -p applied-archive-rule
	$(CARGO) build --quiet --bin demo -p testkit
	$(CURDIR)/target/debug/demo --bootstrap $(CURDIR)/target/debug/bootstrap

lint: ## rustfmt and clippy, warnings as errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

build: ## Debug build of everything
	$(CARGO) build --workspace --all-targets

release: ## Release build of the Lambda binary for this machine
	$(CARGO) build --release --bin bootstrap -p applied-archive-rule

test: lint release ## Lint, then every test; the end-to-end tests run again against the release binary
	$(CARGO) test --workspace
	APPLIED_ARCHIVE_RULE_BOOTSTRAP=$(RELEASE_BOOTSTRAP) $(CARGO) test -p applied-archive-rule --test bootstrap

clean: ## Remove build output
	$(CARGO) clean
