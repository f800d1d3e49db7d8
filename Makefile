# Vigil — the two commands a newcomer runs are `make demo` and `make test`.
SHELL := /bin/bash
PY_BOOT ?= python3
# Every checkout has its own `.venv`, installed exactly from the lock files (requirements/*.txt:
# hash-pinned, compiled from pyproject.toml by scripts/lock.sh) by uv, which links the files from
# its machine-wide cache (~/.cache/uv): torch is downloaded once per machine, and a new clone's
# venv then takes seconds. An old `.venv` link to a shared venv (how checkouts used to work) is
# replaced by the checkout's own.
VENV := .venv
PY := $(VENV)/bin/python
# Deferred: uv is installed (once per machine) only when a recipe needs it.
UV = $(shell bash scripts/uv.sh)
# Stamps name the lock: a changed lock file re-syncs the venv (uv removes what the lock dropped).
LOCK_ID := $(shell cat requirements/*.txt | md5sum | cut -c1-12)
STAMP_RUN := $(VENV)/.installed-run-$(LOCK_ID)
STAMP_ALL := $(VENV)/.installed-all-$(LOCK_ID)

.PHONY: data demo test test-unit lint lock stack-up stack-down install install-run install-system bench docs clean fuzz

# $(1): the lock file to install (the project itself goes on top, editable, without dependencies).
define sync_venv
	@if [ -L $(VENV) ]; then echo "replacing the link $(VENV) -> $$(readlink $(VENV)) with this checkout's own venv"; rm $(VENV); fi
	@test -x $(PY) || $(UV) venv -q --python "$$($(PY_BOOT) -c 'import sys; print(sys.executable)')" $(VENV)
	$(UV) pip sync -q --python $(PY) $(1)
	$(UV) pip install -q --python $(PY) --no-deps -e .
endef

# Run time + ONNX Runtime, for `vigil demo` (what the fusion image carries: no torch).
$(STAMP_RUN):
	$(call sync_venv,requirements/fusion.txt)
	touch $@

# Everything: run time + ONNX Runtime + training (torch 2.9.1 stack, pinned) + dev tools.
$(STAMP_ALL):
	$(call sync_venv,requirements/dev.txt)
	touch $@ $(STAMP_RUN)

install-run: $(STAMP_RUN)
install: $(STAMP_ALL)

install-system:
	bash scripts/install-system.sh
	bash scripts/install-helm.sh  # helm for tests/deploy, built from the Go module proxy into .stack/bin
	bash scripts/kube-apiserver.sh build  # kube-apiserver + etcd for tests/deploy/test_helm_apiserver.py, from the Go module proxy

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

# Recompile requirements/*.txt after editing pyproject.toml's dependencies (then commit them).
lock:
	bash scripts/lock.sh

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
