"""Fixtures of the SDK tests (the helpers they use are in tests/sdk/scripted.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.sdk.scripted import ScriptedServer


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    srv = ScriptedServer()
    yield srv
    srv.close()
