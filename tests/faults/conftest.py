"""Fixtures of the fault tests: the SDK's scripted server here; the registry in a subprocess
(killed and restarted), a PostgreSQL instance of the test's own and a faulty network proxy
are in tests/faults/processes.py and tests/faults/proxy.py.

Every test here is marked `faults` (the module sets it): they are slower than the rest and
`make test` runs them like any other (CI too); `-m 'not faults'` leaves them out locally.
Each prints the figure it measures (seconds to recover, attempts, records checked) on a line
starting with "FIGURE", which `pytest -s` shows and docs/reliability.md reports.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.sdk.scripted import ScriptedServer


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    srv = ScriptedServer()
    yield srv
    srv.close()
