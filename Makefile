# userstream — `make help` lists every target.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements.lock
# Every extra of pyproject.toml: the lock's header names them (tests/unit/test_lock.py checks).
LOCK_EXTRAS := airflow dev stream
LOCK_ARGS ?=
# helm for `make test-deploy`, built from its Go module as a user would get it (README).
HELM_VERSION := v4.3.2
HELM := .tools/bin/helm

.DEFAULT_GOAL := help
.PHONY: help setup lock run down status test test-faults test-deploy test-unit test-integration test-e2e lint format bench clean-venv

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# The whole dependency tree, pinned with hashes, for every extra: `make lock` writes it from
# pyproject.toml, `make setup` installs exactly it (tests/unit/test_lock.py keeps the two agreed).
# uv installs it (parallel downloads; uv itself from the lock's own hashes; compiled to
# bytecode as pip does, or every process of a first `up` compiles Airflow again), while Maven
# downloads the jars beside it: `fetch-jars` then copies them out of Maven's repository.
$(STAMP): pyproject.toml $(LOCK)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required: set PYTHON=python3.11")'
	@test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	@test -x $(BIN)/uv || $(INSTALL_UV)
	@echo "Installing the locked dependency tree: $$(grep -cE '^[A-Za-z0-9]' $(LOCK)) packages (about 1 GB on a first run; pyspark and Airflow are the largest), and downloading the jars beside it."
	@($(PREFETCH_JARS)) & jars=$$!; \
	$(BIN)/uv pip install --python $(BIN)/python --compile-bytecode --require-hashes -r $(LOCK); installed=$$?; \
	wait $$jars; exit $$installed
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	@touch $(STAMP)

# uv at the lock's pin, checked against the lock's hashes.
INSTALL_UV = $(BIN)/pip install --quiet --disable-pip-version-check --require-hashes --no-deps \
	-r <(sed -n '/^uv==/,/^[^ ]/{/^uv==/p;/^ *--hash/p}' $(LOCK))
# Maven's downloads of the Kafka, Cassandra and Spark-connector jars, into its own repository
# (~/.m2): best effort and quiet, as `userstream fetch-jars` reports any failure itself.
PREFETCH_JARS = command -v mvn >/dev/null || exit 0; \
	for pom in src/userstream/stack/maven/*.pom.xml; do \
	mvn -B -q -f $$pom dependency:resolve -DincludeScope=runtime >/dev/null 2>&1; done

lock: ## Rewrite requirements.lock from pyproject.toml (uv; LOCK_ARGS=--upgrade to move unpinned packages)
	@test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	@test -x $(BIN)/uv || $(INSTALL_UV)
	$(BIN)/uv pip compile pyproject.toml $(foreach e,$(LOCK_EXTRAS),--extra $(e)) \
		--universal --generate-hashes --python-version 3.11 -o $(LOCK) --quiet $(LOCK_ARGS)
	@echo "$(LOCK): $$(grep -cE '^[A-Za-z0-9]' $(LOCK)) pins, each with its hashes"

setup: $(STAMP) ## Create .venv, install the package and its dependencies, fetch the jars (idempotent)
	$(BIN)/userstream fetch-jars

run: setup ## Bring the whole pipeline up (Kafka, Cassandra, Spark stream, Airflow, source)
	$(BIN)/userstream up

down: ## Stop everything, keep the data
	$(BIN)/userstream down

status: ## Show every component, offsets, lag and rows stored
	$(BIN)/userstream status

test: setup ## Unit, integration (real services) and end-to-end tests, without the long fault suites
	$(BIN)/pytest -m "not faults" tests/unit tests/integration tests/e2e

test-faults: setup ## The long suites: SIGKILLed parts, the local clusters, the TLS recipe (CI runs both)
	$(BIN)/pytest -m faults tests/integration

$(HELM):
	@command -v go >/dev/null || { echo "make test-deploy needs Go (https://go.dev/dl/) to build helm $(HELM_VERSION)"; exit 1; }
	@echo "Building helm $(HELM_VERSION) from its Go module into $(HELM) (a minute or two, once)"
	GOBIN=$(CURDIR)/.tools/bin go install helm.sh/helm/v4/cmd/helm@$(HELM_VERSION)

test-deploy: setup $(HELM) ## The Helm chart, offline: lint, render, Kubernetes and CRD schemas, agreement with the code
	HELM=$(CURDIR)/$(HELM) $(BIN)/pytest tests/deploy

test-unit: setup ## Only the unit tests (no services)
	$(BIN)/pytest tests/unit

test-integration: setup ## Only the integration tests (real Kafka, Cassandra, Spark, Airflow)
	$(BIN)/pytest tests/integration

test-e2e: setup ## Only the end-to-end tests
	$(BIN)/pytest tests/e2e

lint: $(STAMP) ## ruff (lint + format check) and mypy (the package, and the benchmarks)
	$(BIN)/ruff check src tests benchmarks airflow deploy
	$(BIN)/ruff format --check src tests benchmarks airflow deploy
	$(BIN)/mypy
	$(BIN)/mypy benchmarks

format: $(STAMP) ## Format the code with ruff
	$(BIN)/ruff format src tests benchmarks airflow deploy
	$(BIN)/ruff check --fix src tests benchmarks airflow deploy

bench: setup ## Run the benchmarks (they print figures; starts Kafka + Cassandra if needed)
	$(BIN)/userstream stack up
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean-venv: ## Remove .venv (the state folder is kept)
	rm -rf $(VENV)
