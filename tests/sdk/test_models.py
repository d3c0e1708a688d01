"""Loan reports and the other records: building, checking, serialising, formatting money."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from lender_client import (
    LoanReport,
    format_money,
)
from tests.sdk.scripted import (
    TOKEN,
    report,
)


def test_loan_report_to_json() -> None:
    assert report().to_json() == {
        "loan_ref": "L-1",
        "borrower": TOKEN,
        "product": "cash_loan",
        "currency": "CNY",
        "principal": 500_000,
        "outstanding": 320_000,
        "opened_on": "2026-03-01",
        "due_on": "2027-03-01",
        "status": "open",
        "days_past_due": 0,
        "as_of": "2026-11-20T10:00:00Z",
    }
    # The JSON is plain: it survives json.dumps without a custom encoder.
    json.dumps(report().to_json())


def test_loan_report_converts_as_of_to_utc_and_keeps_microseconds() -> None:
    east8 = timezone(timedelta(hours=8))
    data = report(as_of=datetime(2026, 11, 20, 18, 0, 0, 123456, tzinfo=east8)).to_json()
    assert data["as_of"] == "2026-11-20T10:00:00.123456Z"


def test_loan_report_due_on_optional_and_plain_strings_accepted() -> None:
    data = report(product="credit_line", status="open", due_on=None).to_json()
    assert data["due_on"] is None
    assert data["product"] == "credit_line"


def test_loan_report_rejects_naive_datetime() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        report(as_of=datetime(2026, 11, 20, 10, 0))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("principal", "500000"),
        ("principal", 12.5),
        ("days_past_due", True),
        ("opened_on", "2026-03-01"),
        ("opened_on", datetime(2026, 3, 1, tzinfo=UTC)),
        ("due_on", "2027-03-01"),
        ("as_of", "2026-11-20T10:00:00Z"),
        ("loan_ref", 17),
    ],
)
def test_loan_report_type_checks(name: str, value: Any) -> None:
    with pytest.raises(TypeError, match=name):
        report(**{name: value})


def test_loan_report_from_json_round_trip() -> None:
    original = report(due_on=None, product="credit_line")
    assert LoanReport.from_json(original.to_json()) == original


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        (1_234_567, "CNY", "12,345.67 CNY"),
        (5, "CNY", "0.05 CNY"),
        (0, "USD", "0.00 USD"),
        (-150, "EUR", "-1.50 EUR"),
        (1234, "JPY", "1,234 JPY"),
        (1234, "KWD", "1.234 KWD"),
    ],
)
def test_format_money(amount: int, currency: str, text: str) -> None:
    assert format_money(amount, currency) == text
