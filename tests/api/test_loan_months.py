"""The monthly payment status derived at ingest (`loan_months`), and written-off amounts that
survive a loan's later states."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from registry.models import Loan, LoanMonth
from tests.helpers import iso, loan

pytestmark = pytest.mark.usefixtures("client")


def at(year: int, month: int, day: int, hour: int = 12) -> str:
    return iso(datetime(year, month, day, hour, tzinfo=UTC))


def post(client: Any, lender: Any, records: list[dict[str, Any]]) -> dict[str, Any]:
    response = client.post("/v1/loans", json={"loans": records}, headers=lender.headers)
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    assert body["rejected"] == [], body["rejected"]
    return body


def months(db_session: Any, loan_ref: str = "L-1") -> dict[str, tuple[str, int, date | None]]:
    try:
        rows = db_session.scalars(
            select(LoanMonth).where(LoanMonth.loan_ref == loan_ref).order_by(LoanMonth.month)
        ).all()
        db_session.expunge_all()  # keep what was read: the rollback would expire it
        return {
            r.month.strftime("%Y-%m"): (r.status, r.worst_days_past_due, r.last_delinquent_on)
            for r in rows
        }
    finally:
        db_session.rollback()


def state(dpd: int, day: str, **fields: Any) -> dict[str, Any]:
    return loan(opened_on="2025-10-01", due_on="2027-10-01", days_past_due=dpd, as_of=day, **fields)


def test_months_across_a_year_boundary_with_the_worst_of_each_month(client, new_lender, db_session):
    lender = new_lender()
    # One request per report, oldest first; December 2025 has three reports.
    for record in [
        state(0, at(2025, 11, 30)),
        state(0, at(2025, 12, 1)),
        state(45, at(2025, 12, 15), outstanding=700_000),
        state(3, at(2025, 12, 31, 23), outstanding=650_000),
        state(0, at(2026, 1, 1, 0), outstanding=600_000),
        state(0, at(2026, 3, 5), outstanding=500_000),
    ]:
        post(client, lender, [record])
    assert months(db_session) == {
        "2025-11": ("0", 0, None),
        "2025-12": ("2", 45, date(2025, 12, 31)),
        "2026-01": ("0", 0, None),
        # February: no report, no row (the report shows N).
        "2026-03": ("0", 0, None),
    }


def test_several_reports_of_one_month_in_one_batch(client, new_lender, db_session):
    lender = new_lender()
    post(
        client,
        lender,
        [
            state(0, at(2026, 5, 1)),
            state(95, at(2026, 5, 10), outstanding=700_000),
            state(10, at(2026, 5, 20), outstanding=690_000),
            state(0, at(2026, 6, 2), outstanding=600_000),
        ],
    )
    assert months(db_session) == {
        "2026-05": ("4", 95, date(2026, 5, 20)),
        "2026-06": ("0", 0, None),
    }


def test_a_later_better_report_never_improves_a_stored_month(client, new_lender, db_session):
    lender = new_lender()
    post(client, lender, [state(31, at(2026, 5, 10))])
    post(client, lender, [state(0, at(2026, 5, 20), outstanding=700_000)])
    assert months(db_session) == {"2026-05": ("2", 31, date(2026, 5, 10))}


def test_a_stale_report_does_not_count(client, new_lender, db_session):
    lender = new_lender()
    post(client, lender, [state(0, at(2026, 5, 20))])
    body = post(client, lender, [state(60, at(2026, 5, 10), outstanding=1)])
    assert body["stale"] == 1
    assert months(db_session) == {"2026-05": ("0", 0, None)}


def test_an_unchanged_report_in_a_new_month_is_a_report_in_that_month(
    client, new_lender, db_session
):
    lender = new_lender()
    post(client, lender, [state(40, at(2026, 7, 28))])
    body = post(client, lender, [state(40, at(2026, 8, 2))])
    assert body["unchanged"] == 1
    assert months(db_session) == {
        "2026-07": ("2", 40, date(2026, 7, 28)),
        "2026-08": ("2", 40, date(2026, 8, 2)),
    }
    # The same as_of again changes nothing (not a newer report).
    post(client, lender, [state(40, at(2026, 8, 2))])
    assert months(db_session)["2026-08"] == ("2", 40, date(2026, 8, 2))


def test_closure_and_write_off_months(client, new_lender, db_session):
    lender = new_lender()
    post(client, lender, [state(0, at(2026, 1, 15))])
    post(client, lender, [state(0, at(2026, 1, 25), status="closed")])
    assert months(db_session)["2026-01"] == ("C", 0, None)
    other = new_lender()
    post(client, other, [state(190, at(2026, 4, 1), outstanding=500_000)])
    post(client, other, [state(200, at(2026, 4, 11), status="written_off", outstanding=480_000)])
    post(
        client,
        other,
        [state(0, at(2026, 6, 1), status="closed", special_event="repaid_after_write_off")],
    )
    by_lender = db_session.scalars(
        select(LoanMonth).where(LoanMonth.lender_id == other.id).order_by(LoanMonth.month)
    ).all()
    assert [(r.month.month, r.status) for r in by_lender] == [(4, "W"), (6, "C")]
    stored = db_session.scalars(select(Loan).where(Loan.lender_id == other.id)).one()
    db_session.rollback()
    # The write-off survives the repayment: amount and date of the first written-off report.
    assert (stored.status, stored.outstanding) == ("closed", 0)
    assert (stored.written_off_amount, stored.written_off_on) == (480_000, date(2026, 4, 11))


def test_the_first_write_off_is_kept(client, new_lender, db_session):
    lender = new_lender()
    first = at(2026, 4, 11)
    post(client, lender, [state(200, first, status="written_off", outstanding=480_000)])
    later = iso(datetime(2026, 5, 1, tzinfo=UTC) + timedelta(hours=1))
    post(
        client,
        lender,
        [state(220, later, status="written_off", outstanding=300_000, closed_on="2026-04-11")],
    )
    stored = db_session.scalars(select(Loan)).one()
    db_session.rollback()
    assert stored.outstanding == 300_000
    assert (stored.written_off_amount, stored.written_off_on) == (480_000, date(2026, 4, 11))
    page = client.get("/v1/loans/L-1", headers=lender.headers).get_json()
    assert page["written_off_amount"] == 480_000 and page["written_off_on"] == "2026-04-11"
