# Vigil — the two commands a newcomer runs are `make demo` and `make test`.
SHELL := /bin/bash
PY_BOOT ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test test-unit lint typecheck stack-up stack-down install install-system bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PY_BOOT) -m venv $(VENV)
	$(PIP) install -q -U pip
	# torch is pinned and large: installed once per machine (pip's cache keeps it).
	$(PIP) install -q -e '.[train,dev]'
	touch $(STAMP)

install: $(STAMP)

install-system:
	bash scripts/install-system.sh
	bash scripts/install-helm.sh  # helm for tests/deploy, built from the Go module proxy into .stack/bin

demo: install
	$(VENV)/bin/vigil demo

stack-up: install-system install
	bash scripts/stack.sh up

stack-down:
	bash scripts/stack.sh down

test: install-system install
	bash scripts/stack.sh up
	$(VENV)/bin/pytest -q tests

test-unit: install
	$(VENV)/bin/pytest -q tests/unit

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy services streaming models

bench: install stack-up
	$(VENV)/bin/vigil bench all

clean:
	rm -rf .mypy_cache .ruff_cache .pytest_cache
