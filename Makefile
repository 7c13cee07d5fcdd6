# The two commands a newcomer needs: `make demo` and `make test`. Both create or reuse .venv.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.nish-jax-installed
# Real data sets (see README, "Data"): the project's shared copy, then Debian's Fashion-MNIST.
NISH_DATA_DIR ?= $(abspath ../shared/data):/usr/share/datasets
export NISH_DATA_DIR

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[experiments,test,parity]'
	@touch $@

demo: $(STAMP)
	$(PY) -m experiments.demo

test: $(STAMP)
	$(PY) -m ruff check nish_jax experiments tests
	$(PY) -m pytest -q tests

bench: $(STAMP)
	$(PY) -m experiments.bench_activation

clean:
	rm -rf $(VENV) results
