"""Fixtures of the fault tests: the SDK's scripted server here; the registry in a subprocess
(killed and restarted), a PostgreSQL instance of the test's own and a faulty network proxy
are in tests/faults/processes.py and tests/faults/proxy.py.

Every test here is marked `faults` (the module sets it): they are slower than the rest and
`make test` runs them like any other (CI too); `-m 'not faults'` leaves them out locally.
Each records the figures it measures (seconds to recover, attempts, records checked): they
are printed at the end of the run ("fault figures"), and docs/reliability.md reports them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from registry.migrations import upgrade
from tests.faults.processes import FIGURES
from tests.sdk.scripted import ScriptedServer


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.section("fault figures")
        for line in FIGURES:
            terminalreporter.write_line(line)


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    srv = ScriptedServer()
    yield srv
    srv.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database built by the migrations once: each test copies it (4 s saved)."""
    path = tmp_path_factory.mktemp("template") / "registry.db"
    upgrade(f"sqlite:///{path}")
    return path
