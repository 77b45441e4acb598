# Two commands for a fresh machine: `make demo` (the quickstart job) and `make test` (the suite).
# Both create .venv and install everything on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch/torchvision are installed first and pinned, so pip never pulls a multi-GB other build.
TORCH ?= torch==2.14.1 torchvision==0.29.1
PYTEST_ARGS ?=

.PHONY: setup demo test test-fast lint bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check $(TORCH)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev,bench,lightning,mlflow]'
	touch $@

demo: setup
	$(VENV)/bin/tune-jobs run examples/digits_mlp.yaml --restart
	$(VENV)/bin/tune-jobs results results/digits-mlp --top 5
	$(VENV)/bin/tune-jobs report results/digits-mlp

test: setup
	$(PY) -m pytest -q $(PYTEST_ARGS)

test-fast: setup
	$(PY) -m pytest -q -m "not integration and not slow" $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check tune_jobs trainables tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

bench: setup
	$(PY) bench/overhead.py

clean:
	rm -rf results .pytest_cache
