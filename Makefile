# voicegrid: set-up, run and test. Every target is idempotent; `make setup` is the only place that installs.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.voicegrid-setup

# Debian packages: those the embedded defaults need at run time, and the real peers the tests start.
APT_RUN := espeak-ng gcc libc6-dev
APT_TEST := postgresql sip-tester baresip sox chromium redis-server tcpdump kamailio
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: help setup setup-test compile native run test lint typecheck pytest lock clean

help:
	@echo "make run    set up, then start voicegrid with the demo business (HTTP 127.0.0.1:8080)"
	@echo "make test   set up, then ruff, mypy --strict and the whole pytest suite"
	@echo "make lock   re-resolve requirements.lock from pyproject.toml"

# apt-get runs only when a package is missing, so a set-up machine pays nothing.
define apt_install
	@missing=""; for p in $(1); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi
endef

$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade uv
	$(BIN)/uv pip sync -q --compile-bytecode --python $(BIN)/python requirements.lock
	$(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e .
	@touch $@

# The dashboard's component library (Preact, htm) from the npm registry, pinned and checked by
# integrity; nothing is fetched when the files in place match (tools/vendor_ui.py).
setup: $(STAMP)
	$(call apt_install,$(APT_RUN))
	@$(BIN)/python tools/vendor_ui.py

setup-test: setup
	$(call apt_install,$(APT_TEST))

# Bytecode, compiled once: with PYTHONDONTWRITEBYTECODE set (as on CI machines), every process the
# platform or the suite starts would otherwise compile ~1,200 modules again (3-5 s each).
compile: setup
	@$(BIN)/python -m compileall -q -j0 $(VENV)/lib src tests bench > /dev/null

# The media path compiled with mypyc, in place (tools/build_native.py): about half the CPU per packet.
# Nothing is built when the builds are newer than their sources; voicegrid refuses a stale one.
native: setup
	@$(BIN)/python tools/build_native.py

run: setup compile native
	$(BIN)/voicegrid serve --demo

lint: setup-test
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools

typecheck: setup-test
	$(BIN)/mypy

# The suite on every core (at most 4 workers): most of its time is real peers and calls waiting.
pytest: setup-test compile native
	$(BIN)/pytest -n auto --maxprocesses=4 --dist loadgroup

test: setup-test
	$(MAKE) --no-print-directory lint typecheck pytest

lock: $(VENV)
	$(BIN)/uv pip compile -q pyproject.toml --extra dev --python-version 3.11 -o requirements.lock

$(VENV):
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q uv

clean:
	-test -x $(BIN)/python && $(BIN)/python tools/build_native.py --clean
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
