"""Factories and small helpers shared by the tests."""

from __future__ import annotations

import hashlib
import hmac
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import rfc9497
from registry_protocol.ids import normalize_id, token_input

# The frozen "now" of the API tests (the live server uses the real clock).
NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)


def token(n: int | str) -> str:
    """A deterministic borrower token (64 lower-case hex) for test borrower `n`."""
    return hashlib.sha256(f"test-borrower:{n}".encode()).hexdigest()


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def loan(loan_ref: str = "L-1", borrower: int | str = 1, **fields: Any) -> dict[str, Any]:
    """A valid loan report; keyword arguments override fields (None removes one).
    `borrower` is a test borrower's number or name, or already a 64-hex token.

    It stays valid when a test changes the product, status or days past due alone: a closed
    or written-off loan gets a `closed_on` (the as_of date) unless given one (or None), a
    closed one nothing outstanding, a credit line a `credit_limit` (its principal), and a loan
    past due an `amount_past_due` (its outstanding, at most 50,000, at least 1) unless given."""
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
        if value is not None:
            record[name] = value
    status, days = record.get("status"), record.get("days_past_due")
    if record.get("product") == "credit_line" and "credit_limit" not in fields:
        record["credit_limit"] = record.get("principal", 1_000_000)
    if status in ("closed", "written_off") and "closed_on" not in fields:
        record["closed_on"] = str(record["as_of"])[:10]
    if status == "closed" and "outstanding" not in fields:
        record["outstanding"] = 0
    if (
        isinstance(days, int)
        and days > 0
        and status != "closed"
        and "amount_past_due" not in fields
    ):
        outstanding = record.get("outstanding")
        record["amount_past_due"] = (
            max(1, min(50_000, outstanding)) if isinstance(outstanding, int) else 50_000
        )
    for name, value in fields.items():
        if value is None:
            record.pop(name, None)
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


def tokenize(
    client: Any,
    api_key: str,
    pepper: bytes,
    ids: list[tuple[str, str]],
    key_id: str | None = None,
) -> list[str]:
    """What a lender's SDK does: inner HMAC, blind, evaluate, verify the proof, finalise."""
    info = client.get("/v1/tokens/key", headers=bearer(api_key)).get_json()
    keys = {info["key_id"]: info["public_key"]}
    if info["rotation"]:
        keys[info["rotation"]["next"]["key_id"]] = info["rotation"]["next"]["public_key"]
    key_id = key_id or info["key_id"]
    inputs = [
        hmac.new(pepper, token_input(kind, normalize_id(kind, value)), hashlib.sha256).digest()
        for kind, value in ids
    ]
    blinds, blinded = zip(*(rfc9497.blind(x, rfc9497.Mode.VOPRF) for x in inputs), strict=True)
    body = client.post(
        "/v1/tokens/evaluate",
        json={"blinded_elements": [b.hex() for b in blinded], "key_id": key_id},
        headers=bearer(api_key),
    ).get_json()
    outputs = rfc9497.verify_and_finalize_batch(
        bytes.fromhex(keys[key_id]),
        inputs,
        list(blinds),
        list(blinded),
        [bytes.fromhex(e) for e in body["evaluated_elements"]],
        bytes.fromhex(body["proof"]),
    )
    return [output[:32].hex() for output in outputs]
