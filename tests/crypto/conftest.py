"""Tests of what both sides must compute byte for byte: RFC 9497 (rfc9497/) and the ID rules
of registry_protocol. No database and no server here."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.helpers import shared_file


@pytest.fixture(scope="session")
def rfc9497_vectors() -> list[dict[str, Any]]:
    """The RFC's own test-vector file (../shared/vectors): skipped with a message in a user's
    clone, a failure under .ci/run (REGISTRY_REQUIRE_SHARED)."""
    vectors: list[dict[str, Any]] = json.loads(
        shared_file("vectors/rfc9497-all-vectors.json").read_text()
    )
    return vectors
