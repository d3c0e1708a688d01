"""Factories and small helpers shared by the tests."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

# The frozen "now" of the API tests (the live server uses the real clock).
NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)


def token(n: int | str) -> str:
    """A deterministic borrower token (64 lower-case hex) for test borrower `n`."""
    return hashlib.sha256(f"test-borrower:{n}".encode()).hexdigest()


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def loan(loan_ref: str = "L-1", borrower: int | str = 1, **fields: Any) -> dict[str, Any]:
    """A valid loan report; keyword arguments override fields (None removes one).
    `borrower` is a test borrower's number or name, or already a 64-hex token."""
    is_token = isinstance(borrower, str) and len(borrower) == 64
    record: dict[str, Any] = {
        "loan_ref": loan_ref,
        "borrower": borrower if is_token else token(borrower),
        "product": "cash_loan",
        "currency": "CNY",
        "principal": 1_000_000,
        "outstanding": 800_000,
        "opened_on": "2026-09-01",
        "due_on": "2027-03-01",
        "status": "open",
        "days_past_due": 0,
        "as_of": iso(NOW),
    }
    for name, value in fields.items():
        if value is None:
            record.pop(name, None)
        else:
            record[name] = value
    return record


def bearer(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"}


def shared_file(relative: str) -> Path:
    """A file of the shared reference material kept beside the project, in ../shared/.
    A user's clone has no ../shared: the calling test is skipped then, or failed when
    REGISTRY_REQUIRE_SHARED=1 (as in CI, where a missing file must not pass silently)."""
    path = Path(__file__).resolve().parents[2] / "shared" / relative
    if not path.is_file():
        if os.environ.get("REGISTRY_REQUIRE_SHARED") == "1":
            pytest.fail(f"shared/{relative} is missing and REGISTRY_REQUIRE_SHARED=1")
        pytest.skip(
            f"shared/{relative} lives outside the project (../shared); "
            "CI checks it with REGISTRY_REQUIRE_SHARED=1"
        )
    return path
