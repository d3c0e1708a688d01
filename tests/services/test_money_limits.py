"""Money at its limits (issue 12): amounts are capped at 10**15 minor units when reported,
and every SQL sum of money is exact whatever the total, on both backends (SQLite's SUM of
BIGINT fails past int64; the registry sums halves instead)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from registry.db import exact_total, split_sum, transaction
from registry.models import Loan, LoanStatus
from registry.services.dashboard import book_totals
from registry.services.fields import MAX_MINOR_UNITS
from tests.helpers import NOW, loan, token

JS_SAFE = 2**53 - 1


def _stored_loan(n: int, lender_id: int, outstanding: int) -> Loan:
    return Loan(
        borrower=bytes.fromhex(token(f"big-{n}")),
        lender_id=lender_id,
        loan_ref=f"BIG-{n}",
        product="cash_loan",
        currency="CNY",
        principal=outstanding,
        outstanding=outstanding,
        opened_on=date(2026, 1, 1),
        due_on=date(2027, 1, 1),
        status=LoanStatus.OPEN,
        days_past_due=0,
        credit_limit=outstanding,
        amount_past_due=0,
        as_of=NOW,
        first_reported_at=NOW,
        last_reported_at=NOW,
        last_submission_id="test",
    )


def test_sums_of_money_are_exact_past_int64(db_session, new_lender):
    """Stored loans whose total is far past int64 (written directly: the API would refuse
    each amount) still sum exactly, where a plain SUM fails on SQLite."""
    lender = new_lender()
    amounts = [2**63 - 1, 2**63 - 1, 2**62 + 12345]
    with transaction(db_session):
        db_session.add_all(_stored_loan(n, lender.id, a) for n, a in enumerate(amounts))
    high, low = db_session.execute(select(*split_sum(Loan.outstanding))).one()
    assert exact_total(high, low) == sum(amounts)
    assert book_totals(db_session, NOW).outstanding == {"CNY": sum(amounts)}


def test_amounts_past_the_cap_are_refused_and_the_cap_keeps_reports_exact_in_json(
    client, new_lender
):
    lender = new_lender()
    too_big = loan("CAP-1", 1, principal=MAX_MINOR_UNITS + 1, outstanding=1)
    answer = client.post("/v1/loans", json={"loans": [too_big]}, headers=lender.headers)
    assert [e["field"] for r in answer.get_json()["rejected"] for e in r["errors"]] == [
        "loans[0].principal"
    ]
    at_cap = [
        loan(f"CAP-{n}", 1, principal=MAX_MINOR_UNITS, outstanding=MAX_MINOR_UNITS) for n in (2, 3)
    ]
    answer = client.post("/v1/loans", json={"loans": at_cap}, headers=lender.headers)
    assert answer.get_json()["accepted"] == 2
    report = client.post(
        "/v1/inquiries",
        json={"borrower": token(1), "purpose": "new_credit", "consent_ref": "c"},
        headers=new_lender().headers,
    ).get_json()
    assert report["summary"]["outstanding"] == {"CNY": 2 * MAX_MINOR_UNITS}
    assert 2 * MAX_MINOR_UNITS < JS_SAFE
