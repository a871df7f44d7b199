# Trino Envoy Gateway — every entry point a person or CI needs.
#   make demo   run the gateway demo (installs what is missing, Ctrl-C stops)
#   make test   run the whole test suite (what .ci/run runs)

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      := .venv
PYTHON    := $(VENV)/bin/python
WASM      := target/wasm32-wasip1/release/trino_gateway_filter.wasm
EMULATOR  := target/tools/trino-emulator
CARGO     ?= cargo

.PHONY: help setup toolchain venv packages build lint unit-test py-test test bench bench-store bench-rules bench-quick demo up down rolling-restart chaos-kill chaos-dbt clean compose-up compose-down compose-dbt compose-selinux-label

help:
	@echo "make demo    run the gateway demo (Ctrl-C stops)"
	@echo "make test    run the whole test suite"
	@echo "make up      start the stack in the background (logs/pids in .run/); make down stops it"
	@echo "make build   build the wasm filter and the native tools"
	@echo "make rolling-restart  drain and restart both coordinators under 8 looping clients; prints the figures"
	@echo "make chaos-kill       SIGKILL a coordinator under 8 looping clients (dbt-like re-run once); prints the figures"
	@echo "make chaos-dbt        a real dbt run (tests/dbt) through the gateway: SIGKILL mid-DAG, then a rolling restart; prints the figures"
	@echo "make compose-up       with Docker: real Trino coordinators behind the gateway (compose.yaml); compose-down stops them"
	@echo "make compose-dbt      the tests' dbt project against the compose gateway"
	@echo "make bench   the filter's cost against plain Envoy, its memory, the state store (bench-store) and routing rules (bench-rules); about 15 min; bench-quick: < 1 min"

## Installation: everything a fresh machine needs, idempotent.
setup: toolchain venv packages

# Debian packages: etcd (the state store the multi-Envoy tests and `make up` run on loopback).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
packages:
	@command -v etcd >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq etcd-server etcd-client; }

toolchain:
	@rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip1 || rustup target add wasm32-wasip1
	@rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt

venv: $(VENV)/.installed

$(VENV)/.installed: tests/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r tests/requirements.txt
	@touch $@

## Build
build: toolchain
	$(CARGO) build --profile tools -p trino-emulator -p trino-loadgen
	$(CARGO) build --release --target wasm32-wasip1 -p trino-gateway-filter -p noop-filter
	@ls -l $(WASM) $(EMULATOR)

## Checks
lint: toolchain
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy --workspace --all-targets --features trino-gateway-core/testing -- -D warnings
	$(CARGO) clippy --release --target wasm32-wasip1 -p trino-gateway-filter -p trino-gateway-core -- -D warnings

unit-test:
	$(CARGO) test --workspace
	$(CARGO) run -q -p trino-gateway-core --features testing --example host_calls

py-test: venv build
	$(PYTHON) -m pytest

test: setup build lint unit-test py-test

## Benchmarks (BENCHMARKS.md): figures, never pass/fail on absolute times
bench: setup build
	$(PYTHON) bench/run.py
	$(PYTHON) bench/state_store.py
	$(PYTHON) bench/rules.py

# The state store's sync lag, request-path cost (sync on vs off) and etcd write rate (about 3 min).
bench-store: setup build
	$(PYTHON) bench/state_store.py

# What routing rules cost a new statement (about 2 min).
bench-rules: setup build
	$(PYTHON) bench/rules.py

# CI's guard against gross regressions: fails only if the filter's throughput
# drops below half of plain Envoy's, measured side by side in the same run.
bench-quick: setup build
	$(PYTHON) bench/run.py --rounds 1 --seconds 3 --envoy-concurrency 2 --skip-memory --skip-host-calls --min-ratio 0.5 --name quick

## Running it
demo: setup build
	$(PYTHON) tests/py/stack.py demo

up: setup build
	$(PYTHON) tests/py/stack.py up

# The design record's test with the real dbt-trino: a coordinator SIGKILLed
# mid-DAG (the run completes after at most one `dbt retry`), then a rolling
# restart (no failed model); every table checked against the seeds.
chaos-dbt: setup build
	$(PYTHON) tests/py/dbt_chaos.py

# Chaos on its own processes (free ports), figures printed; exit 1 on any failed query.
rolling-restart: setup build
	$(PYTHON) tests/py/chaos.py rolling-restart

chaos-kill: setup build
	$(PYTHON) tests/py/chaos.py kill --rerun-once

## Docker: compose.yaml, real Trino images (README.md, "With Docker")
COMPOSE      ?= docker compose
COMPOSE_PORT ?= 8080

# Builds the filter first: the gateway mounts the wasm file.
compose-up: toolchain
	$(CARGO) build --release --target wasm32-wasip1 -p trino-gateway-filter
	$(COMPOSE) up -d --wait
	@echo "up: Trino through the gateway on 127.0.0.1:$(COMPOSE_PORT) (Envoy admin 127.0.0.1:9901);" \
	  "try: docker compose run --rm cli --execute 'SELECT node_id FROM system.runtime.nodes'"

compose-down:
	$(COMPOSE) down

# The tests' dbt project (tests/dbt) against the gateway on 127.0.0.1:$(COMPOSE_PORT):
# seeds, models and data tests in the shared `lake` catalog.
compose-dbt: venv
	cd tests/dbt && TRINO_GATEWAY_PORT=$(COMPOSE_PORT) DBT_SEND_ANONYMOUS_USAGE_STATS=false \
	  $(CURDIR)/$(VENV)/bin/dbt build --project-dir . --profiles-dir .

# SELinux hosts (Fedora, RHEL): let containers read the files compose.yaml mounts.
compose-selinux-label:
	chcon -t container_file_t compose/trino/*.properties compose/trino/jvm.config compose/trino/catalog/*.properties \
	  compose/postgres/*.sql envoy/envoy-compose.yaml envoy/envoy-compose-filter.json $(WASM)

down:
	@if [ -x $(PYTHON) ]; then $(PYTHON) tests/py/stack.py down; fi

clean:
	$(CARGO) clean
	rm -rf .run
