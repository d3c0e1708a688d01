"""`account_review` without consent is for a lender's own borrowers only (issue 12): an open
loan, or one that ended within the policy's `account_review_days`, and never a loan first
reported already closed (reporting an old closed loan must not open anyone's report)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from registry.db import transaction
from registry.services.policy import set_threshold
from tests.helpers import NOW, iso, loan, token

B = token("reviewed")
TODAY = NOW.date()


def report(client: Any, lender: Any, *records: dict[str, Any]) -> None:
    response = client.post("/v1/loans", json={"loans": list(records)}, headers=lender.headers)
    assert response.status_code == 200 and not response.get_json()["rejected"], response.get_json()


def review(client: Any, lender: Any) -> Any:
    body = {"borrower": B, "purpose": "account_review"}
    return client.post("/v1/inquiries", json=body, headers=lender.headers)


def closed_after_open(ref: str, closed_on: str) -> list[dict[str, Any]]:
    """A loan reported open, then closed on `closed_on`."""
    return [
        loan(ref, B, opened_on="2025-01-10", as_of="2025-01-10T12:00:00Z"),
        loan(ref, B, opened_on="2025-01-10", status="closed", closed_on=closed_on, as_of=iso(NOW)),
    ]


def test_the_loophole_is_closed_an_old_closed_loan_opens_nothing(client, new_lender):
    holder, snoop = new_lender("holder"), new_lender("snoop")
    report(client, holder, loan("H1", B))
    assert review(client, snoop).status_code == 403
    # The snoop reports a closed loan "opened years ago": it still may not look.
    report(
        client,
        snoop,
        loan(
            "S1", B, opened_on="2019-03-01", status="closed", closed_on=str(TODAY), as_of=iso(NOW)
        ),
    )
    refused = review(client, snoop)
    assert refused.status_code == 403
    assert "never one first reported already closed" in refused.get_json()["detail"]


def test_an_open_loan_allows_a_review(client, new_lender):
    holder = new_lender("holder")
    report(client, holder, loan("H1", B))
    assert review(client, holder).status_code == 200


@pytest.mark.parametrize("days_ago, allowed", [(90, True), (91, False)])
def test_a_loan_closed_within_the_window_allows_a_review(client, new_lender, days_ago, allowed):
    holder = new_lender("holder")
    report(client, holder, *closed_after_open("H2", str(TODAY - timedelta(days=days_ago))))
    assert (review(client, holder).status_code == 200) is allowed


def test_the_window_is_the_policys(client, new_lender, db_session):
    holder = new_lender("holder")
    report(client, holder, *closed_after_open("H3", str(TODAY - timedelta(days=30))))
    assert review(client, holder).status_code == 200
    with transaction(db_session):
        set_threshold(db_session, "account_review_days", 29, NOW)
    assert review(client, holder).status_code == 403


def test_reviews_are_counted_per_lender_in_the_metrics(client, new_lender):
    holder = new_lender("holder")
    report(client, holder, loan("H4", B))
    assert review(client, holder).status_code == 200
    text = client.get("/metrics").get_data(as_text=True)
    assert 'registry_account_reviews_total{lender="holder"}' in text
