"""The report's parts on their own: labels, rounding, months, retention (pure functions),
the inquiry's statement count (flat in the number of loans and months: `loan_months` is
read by token in one statement, `loan_history` never), and the replay of a report recorded
before tradelines existed."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from typing import Any

import pytest
from sqlalchemy import event, select

from registry.db import transaction
from registry.models import Inquiry
from registry.services.report.book import LoanRow, Month
from registry.services.report.figures import MONTHLY_FACTOR, ratio_text, round_half_up
from registry.services.report.tradelines import (
    age_days,
    has_negative_history,
    is_retained,
    is_stale,
    label,
    lender_labels,
    string_months,
)
from tests.helpers import NOW, iso, loan, token


def row(**fields: Any) -> LoanRow:
    base: dict[str, Any] = {
        "lender_id": 1,
        "loan_ref": "L",
        "product": "cash_loan",
        "currency": "CNY",
        "credit_limit": 100,
        "outstanding": 100,
        "amount_past_due": 0,
        "days_past_due": 0,
        "status": "open",
        "special_event": None,
        "opened_on": date(2026, 1, 1),
        "closed_on": None,
        "as_of": NOW,
        "scheduled_payment": None,
        "payment_frequency": None,
        "written_off_amount": None,
        "written_off_on": None,
        "exited_at": None,
    }
    return LoanRow(**(base | fields))


@pytest.mark.parametrize(
    "index, text",
    [
        (0, "A"),
        (25, "Z"),
        (26, "AA"),
        (27, "AB"),
        (51, "AZ"),
        (52, "BA"),
        (701, "ZZ"),
        (702, "AAA"),
    ],
)
def test_labels_are_bijective_base_26(index, text):
    assert label(index) == text


def test_lender_labels_order_by_earliest_loan_then_by_a_hash_that_says_nothing():
    borrower = bytes(32)
    loans = [
        row(lender_id=7, opened_on=date(2026, 3, 1)),
        row(lender_id=3, opened_on=date(2026, 2, 1)),
        row(lender_id=7, opened_on=date(2026, 1, 1)),
        row(lender_id=9, opened_on=date(2026, 2, 1)),
    ]
    labels = lender_labels(loans, borrower)
    assert labels[7] == "A"  # its earliest loan is the oldest
    assert sorted([labels[3], labels[9]]) == ["B", "C"]
    # The tie's order comes from the token: another borrower may see it the other way.
    flipped = {lender_labels(loans, bytes([n]) * 32)[3] for n in range(16)}
    assert flipped == {"B", "C"}
    assert lender_labels(list(reversed(loans)), borrower) == labels  # row order is no input


@pytest.mark.parametrize(
    "numerator, denominator, text",
    [(0, 7, "0.0000"), (1, 3, "0.3333"), (2, 3, "0.6667"), (1, 20_000, "0.0001"),
     (1, 20_001, "0.0000"), (17, 40, "0.4250"), (5, 4, "1.2500"), (7, 7, "1.0000")],
)  # fmt: skip
def test_ratio_text_is_four_decimals_half_up(numerator, denominator, text):
    assert ratio_text(numerator, denominator) == text


def test_rounding_is_half_up_once():
    assert round_half_up(Fraction(1, 2)) == 1
    assert round_half_up(Fraction(3, 2)) == 2  # not banker's rounding
    assert round_half_up(Fraction(49, 100)) == 0
    assert MONTHLY_FACTOR["weekly"] * 12 == 52 and MONTHLY_FACTOR["biweekly"] * 12 == 26
    assert MONTHLY_FACTOR["single"] == MONTHLY_FACTOR["monthly"] == 1


def test_string_months_cross_the_year():
    months = string_months(date(2026, 1, 31))
    assert months[0] == "2024-02" and months[-2:] == ["2025-12", "2026-01"] and len(months) == 24


def test_negative_history_is_any_delinquent_month_or_write_off():
    assert not has_negative_history(row())
    assert has_negative_history(row(months={date(2025, 1, 1): Month("1", 3, date(2025, 1, 9))}))
    assert has_negative_history(row(written_off_on=date(2025, 1, 1), status="closed"))
    assert has_negative_history(row(days_past_due=1))


def test_retention_of_closed_loans():
    today = date(2026, 3, 31)
    clean = row(status="closed", closed_on=date(2024, 3, 30))  # 24 months back: 2024-03-31
    assert is_retained(clean, today) is False
    assert is_retained(row(status="closed", closed_on=date(2024, 3, 31)), today)
    bad = row(status="closed", closed_on=date(2021, 3, 31), days_past_due=0,
              months={date(2021, 2, 1): Month("2", 40, date(2021, 2, 3))})  # fmt: skip
    assert is_retained(bad, today)
    assert not is_retained(
        row(status="closed", closed_on=date(2021, 3, 30), months=bad.months), today
    )
    assert is_retained(row(status="open", opened_on=date(2001, 1, 1)), today)


def test_staleness_by_age_and_by_exit():
    now = datetime(2026, 11, 25, 23, 59, tzinfo=UTC)
    assert not is_stale(row(as_of=now - timedelta(days=35)), now, 35)
    assert is_stale(row(as_of=now - timedelta(days=36)), now, 35)
    assert is_stale(row(exited_at=now), now, 35)
    assert not is_stale(row(exited_at=now + timedelta(seconds=1)), now, 35)
    ahead = row(as_of=datetime(2026, 11, 26, 0, 3, tzinfo=UTC))  # 4 minutes ahead
    assert age_days(ahead, now.date()) == 0 and not is_stale(ahead, now, 0)


def test_an_inquiry_is_a_fixed_number_of_statements(client, new_lender, engine):
    """However many loans, lenders and months, the report reads the same few statements and
    never loan_history."""
    asker = new_lender("asker")
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    def count(borrower: str) -> int:
        statements.clear()
        event.listen(engine, "before_cursor_execute", record)
        try:
            body = {"borrower": borrower, "purpose": "new_credit", "consent_ref": "c"}
            assert client.post("/v1/inquiries", json=body, headers=asker.headers).status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", record)
        assert not any("loan_history" in s for s in statements)
        return len(statements)

    small = token("few")
    holder = new_lender("holder0")
    reported = client.post("/v1/loans", json={"loans": [loan("S", small)]}, headers=holder.headers)
    assert reported.get_json()["accepted"] == 1
    large = token("many")
    for i in range(5):
        lender = new_lender(f"holder{i + 1}")
        for days in range(330, -1, -30):  # a dozen months of history per loan, oldest first
            as_of = iso(NOW - timedelta(days=days + 1))
            records = [
                loan(f"M{j}", large, as_of=as_of, opened_on="2025-06-01", outstanding=900 - days)
                for j in range(4)
            ]
            answer = client.post("/v1/loans", json={"loans": records}, headers=lender.headers)
            assert answer.get_json()["accepted"] == 4
    # The first inquiry of a worker also fills its caches (the key, the policy, give to get).
    count(token("warm-up"))
    assert count(small) == count(large)
    assert count(token("nobody")) <= count(small)


def test_a_replay_of_a_report_recorded_before_tradelines_gets_them_empty(
    client, new_lender, db_session
):
    asker = new_lender("asker")
    body = {"borrower": token("old"), "purpose": "new_credit", "consent_ref": "c"}
    headers = {**asker.headers, "Idempotency-Key": "before-tradelines"}
    first = client.post("/v1/inquiries", json=body, headers=headers).get_json()
    newer = {"tradelines", "worst_days_past_due_12m", "utilisation", "stale_open_loans"}
    with transaction(db_session):
        stored = db_session.scalar(select(Inquiry))
        report = dict(stored.report)
        report.pop("tradelines")
        report["summary"] = {k: v for k, v in report["summary"].items() if k not in newer}
        stored.report = report
    again = client.post("/v1/inquiries", json=body, headers=headers)
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first  # an empty book's figures are the neutral ones
