# The control plane's few verbs. `make test` is what CI runs (.ci/run).
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV        := .venv
PY          := $(VENV)/bin/python
CHECKOV_VENV:= .venv-checkov
ARCH        ?= arm64
LOCALAWS_PORT ?= 4566
CARGO       := cargo
# cargo-machete (unused dependencies), pinned, built from crates.io into a versioned root in
# the venv: a new pin installs anew.
MACHETE_VERSION := 0.9.2
MACHETE     := $(VENV)/cargo-machete-$(MACHETE_VERSION)/bin/cargo-machete
# Cases per property in `make soak` (proptest's default, in `make test`, is 256).
SOAK_CASES  ?= 20000
# cargo-deny (licenses, bans, sources; advisories where the RustSec database can be fetched),
# pinned, built from crates.io the same way (about 6 minutes once on two cores).
DENY_VERSION := 0.20.2
DENY        := $(VENV)/cargo-deny-$(DENY_VERSION)/bin/cargo-deny
# AUDIT_ADVISORIES=1 adds `cargo deny check advisories` (needs the RustSec database from GitHub).
AUDIT_ADVISORIES ?=

help: ## list the verbs
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

setup: $(PY) $(CHECKOV_VENV)/bin/checkov $(MACHETE) ## install the pinned tools: the local AWS world, checkov and cargo-machete (`make build` installs cargo-lambda)
	$(CARGO) fetch --locked

$(PY): tests/localaws/requirements.lock
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r tests/localaws/requirements.lock
	touch $(PY)

$(CHECKOV_VENV)/bin/checkov: infra/requirements-checkov.txt
	python3 -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check -r infra/requirements-checkov.txt
	touch $@

$(MACHETE):
	$(CARGO) install cargo-machete --locked --version $(MACHETE_VERSION) --root $(VENV)/cargo-machete-$(MACHETE_VERSION)

$(DENY):
	$(CARGO) install cargo-deny --locked --version $(DENY_VERSION) --root $(VENV)/cargo-deny-$(DENY_VERSION)

$(VENV)/bin/cargo-lambda: $(PY) tools/requirements-build.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r tools/requirements-build.txt
	touch $@

localaws: $(PY) ## run the local AWS world in the foreground (port LOCALAWS_PORT, default 4566)
	cd tests/localaws && LOCALAWS_PORT=$(LOCALAWS_PORT) ../../$(PY) -m localaws

build: $(VENV)/bin/cargo-lambda ## build the Lambda zips: target/lambda/<name>/bootstrap.zip (ARCH=arm64|x86_64)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" tools/build-lambdas.sh $(ARCH)

lint: $(MACHETE) ## formatting, clippy with warnings denied, unused dependencies (cargo-machete), terraform fmt, checkov
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	$(MACHETE) --skip-target-dir
	terraform fmt -check -recursive infra
	$(CHECKOV_VENV)/bin/checkov -d infra --framework terraform --quiet --compact

test: setup lint ## every test layer: unit, property, adapter, local AWS integration, end to end, infra
	$(PY) -m pytest -q tests/localaws/tests
	$(CARGO) build --workspace --bins --locked
	$(CARGO) test --workspace --locked

# Its tests run with --workspace: the same feature resolution as `make test`, so that build is
# reused, not redone.
audit: $(CHECKOV_VENV)/bin/checkov $(DENY) ## security: checkov (every skip explained), cargo-deny licenses/bans/sources, grants derived from the code, no secret in logs, nothing in public DNS
	$(CHECKOV_VENV)/bin/checkov -d infra --framework terraform --quiet --compact --skip-download
	@if grep -rn 'checkov:skip=' infra --include='*.tf' | grep -vE 'checkov:skip=[A-Z0-9_]+:[[:space:]]*[^[:space:]].{9,}'; then echo "checkov skips above give no reason"; exit 1; fi
	$(DENY) --offline check licenses bans sources
	@if [ -n "$(AUDIT_ADVISORIES)" ]; then $(DENY) check advisories; else echo "cargo deny check advisories: skipped (needs the RustSec database; AUDIT_ADVISORIES=1 runs it)"; fi
	$(CARGO) test --locked --workspace --test tests -- iam:: infra::

demo: setup ## run the control plane against the local AWS world through a full scenario
	$(CARGO) build --workspace --bins --locked
	$(CARGO) run --quiet --locked -p demo --bin demo

# The benchmarks' Python peer (boto3 under awslambdaric), pinned, in a venv of its own.
BENCH_VENV  := .venv-bench
BENCH_ARGS  ?=

$(BENCH_VENV)/bin/python: bench/requirements.txt
	python3 -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	touch $@

bench: $(PY) $(BENCH_VENV)/bin/python ## benchmarks against a Python/boto3 peer (not part of test): docs/BENCHMARKS.md
	$(CARGO) build --release --locked -p failover -p replication-monitor -p concurrency-scheduler -p ctl -p bench --bin failover --bin replication-monitor --bin concurrency-scheduler --bin ctl --bin bench
	target/release/bench $(BENCH_ARGS)

soak: setup ## the reliability suite at length: every call x every fault kind, every property at SOAK_CASES cases
	$(CARGO) build --workspace --bins --locked
	PROPTEST_CASES=100000 $(CARGO) test --locked -p shared --test bad_input
	PROPTEST_CASES=$(SOAK_CASES) $(CARGO) test --locked --workspace --lib
	FAULTS_FULL=1 $(CARGO) test --locked -p tests --test tests -- faults:: concurrency::racing --nocapture --test-threads 4
	@cat target/reliability/faults.txt

# The fault matrix against a failover built without its min_active_regions rule (the
# test-only feature `broken-min-active`): the suite must go red. Not part of `make test`.
faults-broken: $(PY) ## show the fault matrix catching a broken failover: red expected (docs/RELIABILITY.md)
	$(CARGO) build --workspace --bins --locked
	$(CARGO) build --locked -p failover --features broken-min-active --bin failover
	mkdir -p target/broken && cp target/debug/failover target/broken/failover
	$(CARGO) build --locked -p failover --bin failover
	rm -f target/reliability/broken-faults.txt
	@if FAULTS_FAILOVER_BIN=$(CURDIR)/target/broken/failover $(CARGO) test --locked -p tests --test tests -- faults::failover:: --nocapture; then \
	  echo "faults-broken: the suite stayed green against a broken build"; exit 1; fi
	@grep -E '^faults: .*, [1-9][0-9]* violated$$' target/reliability/broken-faults.txt || { echo "faults-broken: red, but not by a violated invariant"; exit 1; }
	@echo "faults-broken: red, as it must be"

validate: ## terraform init/validate of infra/stack (needs provider downloads)
	TF_DATA_DIR=.terraform-validate terraform -chdir=infra/stack init -backend=false -input=false
	TF_DATA_DIR=.terraform-validate terraform -chdir=infra/stack validate

plan: ## terraform plan for ENV=dev|prod: infra/stack with infra/envs/ENV/{backend.hcl,terraform.tfvars}
	@test -n "$(ENV)" || { echo "usage: make plan ENV=dev|prod"; exit 2; }
	TF_DATA_DIR=.terraform-$(ENV) terraform -chdir=infra/stack init -input=false -backend-config=../envs/$(ENV)/backend.hcl
	TF_DATA_DIR=.terraform-$(ENV) terraform -chdir=infra/stack plan -var-file=../envs/$(ENV)/terraform.tfvars -out=$(ENV).tfplan

apply: ## apply the plan `make plan ENV=...` saved (infra/stack/ENV.tfplan)
	@test -n "$(ENV)" || { echo "usage: make apply ENV=dev|prod"; exit 2; }
	TF_DATA_DIR=.terraform-$(ENV) terraform -chdir=infra/stack apply $(ENV).tfplan

.PHONY: help setup localaws build lint test audit demo bench soak validate plan apply
