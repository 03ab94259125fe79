# ICE Lab. `make demo` and `make test` are the two commands a new machine needs; both run `make setup`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.icelab-installed
PYTEST := $(PY) -m pytest
POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/test

.PHONY: setup test test-fast test-sqlite test-postgres test-all demo bench lint format clean

# Idempotent: reinstalls only when pyproject.toml changed since the last install.
setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,prod]'
	touch $(STAMP)

# The full suite on SQLite (the embedded default), then the database-backed tests on PostgreSQL.
test: setup
	bash .ci/ensure-services
	bash .ci/ensure-chromium
	$(MAKE) --no-print-directory test-sqlite
	$(MAKE) --no-print-directory test-postgres

test-sqlite: setup
	$(PYTEST) -m "not gpu" -q

# Django app tests (everything that touches the database) against PostgreSQL.
test-postgres: setup
	DATABASE_URL=$(POSTGRES_URL) $(PYTEST) -m "not gpu and not slow" -q \
		--ignore=tests/explainers/ice --ignore=tests/analysis/stats

# Quick loop while developing: skips the slow tests.
test-fast: setup
	$(PYTEST) -m "not slow and not gpu" -q -x

test-all: setup
	$(PYTEST) -q

demo: setup
	$(PY) manage.py demo

bench: setup
	$(PY) benchmarks/reducers.py --out var/benchmarks/reducers.json
	$(PY) benchmarks/features.py --out var/benchmarks/features.json

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# Rewrites files: ruff's formatter, then its autofixes.
format: setup
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

clean:
	rm -rf var/test-home .pytest_cache
