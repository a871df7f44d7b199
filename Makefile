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

.PHONY: help setup toolchain venv build lint unit-test py-test test demo up down clean

help:
	@echo "make demo    run the gateway demo (Ctrl-C stops)"
	@echo "make test    run the whole test suite"
	@echo "make up      start the stack in the background (logs/pids in .run/); make down stops it"
	@echo "make build   build the wasm filter and the native tools"

## Installation: everything a fresh machine needs, idempotent.
setup: toolchain venv

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
	$(CARGO) build --profile tools -p trino-emulator
	$(CARGO) build --release --target wasm32-wasip1 -p trino-gateway-filter
	@ls -l $(WASM) $(EMULATOR)

## Checks
lint: toolchain
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy --release --target wasm32-wasip1 -p trino-gateway-filter -- -D warnings

unit-test:
	$(CARGO) test --workspace

py-test: venv build
	$(PYTHON) -m pytest

test: setup build lint unit-test py-test

## Running it
demo: setup build
	$(PYTHON) tests/py/stack.py demo

up: setup build
	$(PYTHON) tests/py/stack.py up

down:
	@if [ -x $(PYTHON) ]; then $(PYTHON) tests/py/stack.py down; fi

clean:
	$(CARGO) clean
	rm -rf .run
