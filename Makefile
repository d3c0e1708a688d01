# Two commands matter: `make run` (registry + demo data on SQLite, http://127.0.0.1:5000)
# and `make test` (the whole suite, SQLite and PostgreSQL). Both create .venv themselves.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
HOST   ?= 127.0.0.1
PORT   ?= 5000

.PHONY: run test test-partitioned faults install lint format typecheck check lock bench bench-inquiry bench-console bench-tokenise bench-scale postgres clean

# Two distributions from this repository: the SDK (sdk/: lender_client, registry_protocol,
# rfc9497) and the registry (.), both editable, at the versions pinned in requirements-dev.lock.
$(STAMP): pyproject.toml sdk/pyproject.toml requirements-dev.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements-dev.lock -e ./sdk -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/registry db upgrade
	$(BIN)/registry demo --url http://$(HOST):$(PORT)
	$(BIN)/registry serve --host $(HOST) --port $(PORT)

# PostgreSQL at 127.0.0.1:5432 is needed by half the suite: start it if it is down.
postgres:
	@pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null || { \
	  echo "PostgreSQL is down; starting it"; \
	  pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start && \
	  for i in 1 2 3 4 5 6 7 8 9 10; do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done; \
	} || echo "WARNING: could not start PostgreSQL; its tests will fail (REGISTRY_TEST_BACKENDS=sqlite runs SQLite only)"

# Then the storage-layer tests once more on PostgreSQL with the per-borrower tables
# hash-partitioned by token (registry/partitioning.py): the key rules Citus imposes (about 5
# minutes; the models-against-migrations comparison is left out: partitions are not models).
test: $(STAMP) postgres
	$(BIN)/pytest
	$(MAKE) test-partitioned

test-partitioned: $(STAMP) postgres
	REGISTRY_TEST_PARTITIONED=1 REGISTRY_TEST_BACKENDS=postgresql $(BIN)/pytest -q -m 'not faults' -n 2 \
	  --deselect 'tests/services/test_migrations.py::test_schema_matches_the_models[postgresql]' \
	  tests/api tests/services

# The fault tests alone (make test runs them with the rest; about two minutes): the registry
# killed mid-upload, PostgreSQL stopped, a faulty network, races, a full or read-only SQLite
# file. What they measure: docs/reliability.md.
faults: $(STAMP) postgres
	$(BIN)/pytest -m faults tests/faults

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: $(STAMP)
	$(BIN)/mypy

# What CI runs (.ci/run): style, types, then the whole suite.
check: lint typecheck test

# Re-pin every dependency after a change to a pyproject.toml: requirements.lock is what the
# image installs (the registry and the SDK), requirements-dev.lock adds the test tools.
lock:
	rm -rf $(VENV)-lock
	$(PYTHON) -m venv $(VENV)-lock
	$(VENV)-lock/bin/python -m pip install --quiet ./sdk .
	echo "# Every runtime dependency of the registry and the SDK, pinned (make lock)." > requirements.lock
	$(VENV)-lock/bin/python -m pip freeze --exclude-editable \
	  | grep -v -E '^(debt-registry|lender-client|lender_client|debt_registry)[=@ ]' >> requirements.lock
	$(VENV)-lock/bin/python -m pip install --quiet './sdk' '.[dev]'
	echo "# requirements.lock plus the test and lint tools, pinned (make lock)." > requirements-dev.lock
	$(VENV)-lock/bin/python -m pip freeze --exclude-editable \
	  | grep -v -E '^(debt-registry|lender-client|lender_client|debt_registry)[=@ ]' >> requirements-dev.lock
	rm -rf $(VENV)-lock

# Benchmarks against PostgreSQL (a throwaway database). BENCH_LOANS / BENCH_UPLOAD scale them.
bench: $(STAMP) postgres
	$(BIN)/python -m tests.bench.run
	$(BIN)/python -m tests.bench.console
	$(BIN)/python -m tests.bench.tokenise
	$(BIN)/python -m tests.bench.scale

# Inquiry latency at 100 thousand, 1 million and 10 million loans, each built by
# `registry bench-data` (bench-output/scale.json, docs/benchmarks/latency_vs_size.png).
bench-scale: $(STAMP) postgres
	$(BIN)/python -m tests.bench.scale

# Issue 15's targets 1 and 5 alone: inquiries against /healthz (wrk), and on SQLite.
bench-inquiry: $(STAMP) postgres
	BENCH_SECTIONS=ratio,sqlite $(BIN)/python -m tests.bench.run

# Server time of each console page, on a data set built as bench builds it (bench-output/console.json).
bench-console: $(STAMP) postgres
	$(BIN)/python -m tests.bench.console

# IDs tokenised per second end to end: SDK, gunicorn, VOPRF with proofs (bench-output/tokenise.json).
bench-tokenise: $(STAMP) postgres
	$(BIN)/python -m tests.bench.tokenise

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache *.egg-info sdk/*.egg-info build sdk/build
