# The control plane's few verbs. `make test` is what CI runs (.ci/run).
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV        := .venv
PY          := $(VENV)/bin/python
CHECKOV_VENV:= .venv-checkov
ARCH        ?= arm64
LOCALAWS_PORT ?= 4566
CARGO       := cargo

help: ## list the verbs
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

setup: $(PY) $(CHECKOV_VENV)/bin/checkov ## install the pinned tools: local AWS world, cargo-lambda, checkov
	$(CARGO) fetch --locked

$(PY): tests/localaws/requirements.lock
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r tests/localaws/requirements.lock
	touch $(PY)

$(CHECKOV_VENV)/bin/checkov: infra/requirements-checkov.txt
	python3 -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check -r infra/requirements-checkov.txt
	touch $@

$(VENV)/bin/cargo-lambda: $(PY) tools/requirements-build.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r tools/requirements-build.txt
	touch $@

localaws: $(PY) ## run the local AWS world in the foreground (port LOCALAWS_PORT, default 4566)
	cd tests/localaws && LOCALAWS_PORT=$(LOCALAWS_PORT) ../../$(PY) -m localaws

build: $(VENV)/bin/cargo-lambda ## build the Lambda zips: target/lambda/<name>/bootstrap.zip (ARCH=arm64|x86_64)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" tools/build-lambdas.sh $(ARCH)

lint: ## formatting and clippy with warnings denied, terraform fmt, checkov
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	terraform fmt -check -recursive infra
	$(CHECKOV_VENV)/bin/checkov -d infra --framework terraform --quiet --compact

test: setup lint ## every test layer: unit, property, adapter, local AWS integration, end to end, infra
	$(PY) -m pytest -q tests/localaws/tests
	$(CARGO) build --workspace --bins --locked
	$(CARGO) test --workspace --locked

demo: setup ## run the control plane against the local AWS world through a full scenario
	$(CARGO) build --workspace --bins --locked
	$(CARGO) run --quiet --locked -p tests --bin demo

bench: setup ## benchmarks (not part of test): see docs/BENCHMARKS.md
	@echo "benchmarks are not built yet: see docs/BENCHMARKS.md" && exit 1

validate: ## terraform init/validate (needs provider downloads)
	for env in dev prod; do terraform -chdir=infra/envs/$$env init -backend=false -input=false && terraform -chdir=infra/envs/$$env validate; done

plan: ## terraform plan for ENV=dev|prod (needs providers and credentials)
	terraform -chdir=infra/envs/$(ENV) init -input=false && terraform -chdir=infra/envs/$(ENV) plan

.PHONY: help setup localaws build lint test demo bench validate plan
