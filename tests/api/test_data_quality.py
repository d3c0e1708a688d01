"""The lender's data-quality score counts the ingest's consistency warnings and stale loans."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from registry.models import Lender
from registry.services.dashboard import lender_stats
from tests.helpers import NOW, iso, loan


def quality(db_session: Any, lender_id: int) -> Any:
    try:
        return lender_stats(db_session, db_session.get(Lender, lender_id), NOW).quality
    finally:
        db_session.rollback()


def test_warnings_and_stale_open_loans_lower_the_score(client, new_lender, db_session):
    lender = new_lender()
    records = [
        loan("FINE-1", borrower=1),
        loan("FINE-2", borrower=2),
        # Open, 10 days past its due date, nothing past due: accepted with a warning.
        loan("WARNED", borrower=3, opened_on="2026-05-01", due_on="2026-11-15"),
        # The same, but extended: no warning.
        loan(
            "EXT", borrower=4, opened_on="2026-05-01", due_on="2026-11-15", special_event="extended"
        ),
        # Latest report 36 days old (policy: stale after 35 days).
        loan("STALE", borrower=5, as_of=iso(NOW - timedelta(days=36))),
        # Closed loans count in neither share.
        loan(
            "SHUT",
            borrower=6,
            status="closed",
            opened_on="2026-05-01",
            as_of=iso(NOW - timedelta(days=90)),
        ),
    ]
    body = client.post("/v1/loans", json={"loans": records}, headers=lender.headers).get_json()
    assert body["accepted"] == 6 and [w["loan_ref"] for w in body["warnings"]] == ["WARNED"]
    q = quality(db_session, lender.id)
    assert (q.open_loans, q.warned_open_loans, q.stale_open_loans) == (5, 1, 1)
    assert q.parts["W"] == q.parts["T"] == 0.2
    assert q.score == round(100 * (0.5 + 0.15 + 0.15 + 0.1 * 0.8 + 0.1 * 0.8))
    # Brought up to date, the loans leave both shares.
    fixed = [
        loan(
            "WARNED",
            borrower=3,
            opened_on="2026-05-01",
            due_on="2026-11-15",
            days_past_due=10,
            as_of=iso(NOW + timedelta(seconds=1)),
        ),
        loan("STALE", borrower=5, outstanding=700_000),
    ]
    client.post("/v1/loans", json={"loans": fixed}, headers=lender.headers)
    q = quality(db_session, lender.id)
    assert (q.warned_open_loans, q.stale_open_loans) == (0, 0)


def test_stale_is_at_the_policys_edge(client, new_lender, db_session):
    lender = new_lender()
    records = [
        loan("EDGE", borrower=1, as_of=iso(NOW - timedelta(days=35))),
        loan("PAST", borrower=2, as_of=iso(NOW - timedelta(days=35, seconds=1))),
    ]
    client.post("/v1/loans", json={"loans": records}, headers=lender.headers)
    assert quality(db_session, lender.id).stale_open_loans == 1
