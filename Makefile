# The two commands a newcomer needs: `make demo` and `make test`. Both create or reuse .venv and
# install what they need (the demo: no torch, no tensorflow; the tests: everything).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_STAMP := $(VENV)/.nish-jax-demo
TEST_STAMP := $(VENV)/.nish-jax-test
DOCS_STAMP := $(VENV)/.nish-jax-docs
# Real data sets (see README, "Data"): the project's shared copy beside the clone.
NISH_DATA_DIR ?= $(abspath ../shared/data)
export NISH_DATA_DIR

.PHONY: demo test lint bench docs clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(DEMO_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[experiments]'
	@touch $@

# The test extras include the demo's, so this install also stands for the demo's.
$(TEST_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[experiments,test,parity,tfds]'
	@touch $@ $(DEMO_STAMP)

# The docs extras include the demo's too (autodoc imports nish_jax.train and its optional parts).
$(DOCS_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[experiments,docs]'
	@touch $@ $(DEMO_STAMP)

demo: $(DEMO_STAMP)
	$(PY) -m experiments.demo

# One worker per core (at most 4), each test file on one worker: a file's tests share its fixtures.
test: lint
	$(PY) -m pytest -q --durations=10 -n auto --maxprocesses 4 --dist loadfile tests

lint: $(TEST_STAMP)
	$(PY) -m ruff check nish_jax experiments benchmarks tests

bench: $(DEMO_STAMP)
	$(PY) -m benchmarks.activation

# The API reference (docs/api) as HTML in docs/api/_build/html, read afresh (-E) so that every
# warning shows; any Sphinx warning fails it.
docs: $(DOCS_STAMP)
	$(PY) -m sphinx -E -W --keep-going -q -b html docs/api docs/api/_build/html

clean:
	rm -rf $(VENV) results
