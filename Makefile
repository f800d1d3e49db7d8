# Vigil — the two commands a newcomer runs are `make demo` and `make test`.
SHELL := /bin/bash
PY_BOOT ?= python3
# The virtualenv lives once per machine (torch alone is gigabytes); `.venv` in the checkout is a
# link to it, so every clone on the machine (CI's included) shares one install. A real `.venv`
# directory, if you made one, is used as it is.
VENV_HOME ?= $(HOME)/.cache/vigil/venv-py311
# Tools are called by the venv's real path, so console scripts get a shebang that outlives any
# one checkout (a path through the link would die with the clone that installed them).
VENV := $(if $(shell test -d .venv -a ! -L .venv && echo real),.venv,$(VENV_HOME))
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# Stamps name the checkout and the dependency list: another clone or a changed pyproject.toml
# re-runs pip (which skips what is already satisfied) and re-points the editable install here.
DEPS_ID := $(shell (pwd; cat pyproject.toml) | md5sum | cut -c1-12)
STAMP_RUN := $(VENV)/.installed-run-$(DEPS_ID)
STAMP_ALL := $(VENV)/.installed-all-$(DEPS_ID)

.PHONY: data demo test test-unit lint stack-up stack-down install install-run install-system bench docs clean fuzz

$(PY):
	$(PY_BOOT) -m venv $(VENV)
	$(PIP) install -q -U pip

.venv:
	ln -s $(VENV_HOME) .venv

# Run time only (what a service image carries: no torch), with ONNX Runtime for `vigil demo`.
$(STAMP_RUN): | $(PY) .venv
	$(PIP) install -q -e '.[fusion]'
	touch $@

# Everything: run time + ONNX Runtime + training (torch 2.9.1 stack, pinned) + dev tools.
$(STAMP_ALL): | $(PY) .venv
	$(PIP) install -q -e '.[fusion,train,dev]'
	touch $@ $(STAMP_RUN)

install-run: $(STAMP_RUN)
install: $(STAMP_ALL)

install-system:
	bash scripts/install-system.sh
	bash scripts/install-helm.sh  # helm for tests/deploy, built from the Go module proxy into .stack/bin

demo: install-run
	$(VENV)/bin/vigil demo

# The real-sound training corpus (Debian packages -> data/corpus; manifest committed, audio not).
data: install
	$(VENV)/bin/vigil data fetch

stack-up: install-system install
	bash scripts/stack.sh up

stack-down:
	bash scripts/stack.sh down

test: install-system install
	bash scripts/stack.sh up
	$(VENV)/bin/pytest -q tests

test-unit: install
	$(VENV)/bin/pytest -q tests/unit

# Longer coverage-guided fuzzing than CI's few seconds: make fuzz FUZZ_SECONDS=3600. The working
# corpus grows under $(FUZZ_DIR) (seeded from tests/fuzz/corpus/); crashes land there as crash-*.
FUZZ_SECONDS ?= 300
FUZZ_DIR ?= .stack/fuzz
fuzz: install
	@for h in contracts alerts config; do \
		mkdir -p $(FUZZ_DIR)/$$h && \
		echo "fuzz_$$h: $(FUZZ_SECONDS) s" && \
		$(PY) tests/fuzz/fuzz_$$h.py -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 \
			-artifact_prefix=$(FUZZ_DIR)/$$h- $(FUZZ_DIR)/$$h tests/fuzz/corpus/$$h || exit 1; \
	done

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy services streaming models

bench: install stack-up
	$(VENV)/bin/vigil bench all

docs: install-run
	$(PY) -c "import re,subprocess,pathlib; p=pathlib.Path('README.md'); ref=subprocess.run(['$(VENV)/bin/vigil','config','--reference'],capture_output=True,text=True,check=True).stdout.strip(); p.write_text(re.sub(r'<!-- config-reference:begin.*?<!-- config-reference:end -->', lambda m: ref, p.read_text(), flags=re.S))"

clean:
	rm -rf .mypy_cache .ruff_cache .pytest_cache
