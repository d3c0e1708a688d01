# Two commands matter: `make run` (registry + demo data on SQLite, http://127.0.0.1:5000)
# and `make test` (the whole suite, SQLite and PostgreSQL). Both create .venv themselves.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
HOST   ?= 127.0.0.1
PORT   ?= 5000

.PHONY: run test install lint typecheck check bench bench-console bench-tokenise postgres clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
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

test: $(STAMP) postgres
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck test

# Benchmarks against PostgreSQL (a throwaway database). BENCH_LOANS / BENCH_UPLOAD scale them.
bench: $(STAMP) postgres
	$(BIN)/python -m tests.bench.run
	$(BIN)/python -m tests.bench.console
	$(BIN)/python -m tests.bench.tokenise

# Server time of each console page, on a data set built as bench builds it (bench-output/console.json).
bench-console: $(STAMP) postgres
	$(BIN)/python -m tests.bench.console

# IDs tokenised per second end to end: SDK, gunicorn, VOPRF with proofs (bench-output/tokenise.json).
bench-tokenise: $(STAMP) postgres
	$(BIN)/python -m tests.bench.tokenise

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache *.egg-info
