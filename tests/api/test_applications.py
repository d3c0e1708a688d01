"""Applications' outcomes (issue 10): POST /v1/inquiries/<inquiry_id>/outcome, its permissions,
its idempotency and conflicts, the 30-day limit, and declines that no other lender ever sees;
the console's helpers (`outcome_rate`, `expired_provisional_loans`) against hand counts. Clock
frozen at NOW (2026-11-25 12:00 UTC)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from registry.clock import iso
from registry.models import ApplicationOutcome
from registry.services import applications
from tests.helpers import NOW, loan, token

B = token("applications")
APPROVED = {"outcome": "approved", "loan_ref": "NEW-1", "amount": 300_000, "currency": "CNY"}


def inquire(client: Any, lender: Any, borrower: str = B, **extra: Any) -> dict[str, Any]:
    body = {"borrower": borrower, "purpose": "new_credit", "consent_ref": "c-1", **extra}
    response = client.post("/v1/inquiries", json=body, headers=lender.headers)
    assert response.status_code == 200, response.get_json()
    result: dict[str, Any] = response.get_json()
    return result


def outcome(client: Any, lender: Any, inquiry_id: str, body: dict[str, Any]) -> Any:
    return client.post(f"/v1/inquiries/{inquiry_id}/outcome", json=body, headers=lender.headers)


def fields_of(response: Any) -> list[str]:
    assert response.status_code == 422, response.get_json()
    assert response.mimetype == "application/problem+json"
    return sorted(error["field"] for error in response.get_json()["errors"])


def test_an_approval_is_recorded_with_its_provisional_days(client, new_lender, clock):
    lender = new_lender("lender")
    inquiry_id = inquire(client, lender, amount_requested=300_000, currency="CNY")["inquiry_id"]
    clock.advance(timedelta(hours=2))
    response = outcome(client, lender, inquiry_id, APPROVED)
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response.headers
    assert response.get_json() == {
        "inquiry_id": inquiry_id,
        "outcome": "approved",
        "loan_ref": "NEW-1",
        "amount": 300_000,
        "currency": "CNY",
        "inquired_at": iso(NOW),
        "recorded_at": iso(NOW + timedelta(hours=2)),
        "provisional_until": iso(NOW + timedelta(hours=2, days=14)),  # policy default 14
    }


@pytest.mark.parametrize("kind", ["declined", "withdrawn"])
def test_a_decline_or_withdrawal_names_no_loan(client, new_lender, kind):
    lender = new_lender("lender")
    inquiry_id = inquire(client, lender)["inquiry_id"]
    response = outcome(client, lender, inquiry_id, {"outcome": kind})
    assert response.status_code == 201
    answer = response.get_json()
    assert (answer["outcome"], answer["loan_ref"], answer["amount"]) == (kind, None, None)
    assert (answer["currency"], answer["provisional_until"]) == (None, None)


def test_the_same_outcome_again_gets_the_same_answer(client, new_lender, clock, db_session):
    lender = new_lender("lender")
    inquiry_id = inquire(client, lender)["inquiry_id"]
    first = outcome(client, lender, inquiry_id, APPROVED)
    clock.advance(timedelta(minutes=5))
    again = outcome(client, lender, inquiry_id, APPROVED)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()  # recorded_at is the first one's
    count = db_session.scalar(select(func.count()).select_from(ApplicationOutcome))
    db_session.rollback()
    assert count == 1


@pytest.mark.parametrize(
    "second",
    [
        {"outcome": "declined"},
        {"outcome": "withdrawn"},
        {**APPROVED, "amount": 300_001},
        {**APPROVED, "loan_ref": "NEW-2"},
        {**APPROVED, "currency": "USD"},
    ],
)
def test_a_different_outcome_is_a_conflict(client, new_lender, second):
    lender = new_lender("lender")
    inquiry_id = inquire(client, lender)["inquiry_id"]
    assert outcome(client, lender, inquiry_id, APPROVED).status_code == 201
    response = outcome(client, lender, inquiry_id, second)
    assert response.status_code == 409
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["type"] == "/problems/outcome-conflict"
    # The first outcome stands.
    assert outcome(client, lender, inquiry_id, APPROVED).status_code == 200


def test_a_decline_then_an_approval_is_a_conflict(client, new_lender):
    lender = new_lender("lender")
    inquiry_id = inquire(client, lender)["inquiry_id"]
    assert outcome(client, lender, inquiry_id, {"outcome": "declined"}).status_code == 201
    assert outcome(client, lender, inquiry_id, APPROVED).status_code == 409


def test_only_the_inquiring_lender_may_record_it(client, new_lender):
    lender, other = new_lender("lender"), new_lender("other")
    inquiry_id = inquire(client, lender)["inquiry_id"]
    response = outcome(client, other, inquiry_id, APPROVED)
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    # Unknown ids alike, whatever they look like.
    for unknown in ("00000000-0000-0000-0000-000000000000", "x" * 37, "nope"):
        assert outcome(client, lender, unknown, APPROVED).status_code == 404
    # The other lender's attempt changed nothing.
    assert outcome(client, lender, inquiry_id, {"outcome": "declined"}).status_code == 201


def test_without_an_api_key_it_is_a_401(client, new_lender):
    lender = new_lender("lender")
    inquiry_id = inquire(client, lender)["inquiry_id"]
    response = client.post(f"/v1/inquiries/{inquiry_id}/outcome", json=APPROVED)
    assert response.status_code == 401


def test_an_account_review_has_no_outcome(client, new_lender):
    lender = new_lender("lender")
    response = client.post("/v1/loans", json={"loans": [loan("L-1", B)]}, headers=lender.headers)
    assert response.status_code == 200 and not response.get_json()["rejected"]
    review = inquire(client, lender, purpose="account_review")
    assert fields_of(outcome(client, lender, review["inquiry_id"], APPROVED)) == ["inquiry_id"]


def test_an_outcome_more_than_30_days_after_the_inquiry_is_refused(client, new_lender, clock):
    lender = new_lender("lender")
    on_time, late = inquire(client, lender)["inquiry_id"], inquire(client, lender)["inquiry_id"]
    clock.set(NOW + timedelta(days=30))  # exactly 30 days: still in time
    assert outcome(client, lender, on_time, {"outcome": "withdrawn"}).status_code == 201
    clock.set(NOW + timedelta(days=30, seconds=1))
    assert fields_of(outcome(client, lender, late, {"outcome": "withdrawn"})) == ["outcome"]
    # A repeat of the outcome recorded in time is still answered.
    assert outcome(client, lender, on_time, {"outcome": "withdrawn"}).status_code == 200


@pytest.mark.parametrize(
    "body, fields",
    [
        ({"outcome": "approved"}, ["amount", "currency", "loan_ref"]),
        ({"outcome": "approved", "loan_ref": "R", "amount": 5}, ["currency"]),
        ({"outcome": "approved", "loan_ref": "R", "currency": "CNY"}, ["amount"]),
        ({"outcome": "declined", "loan_ref": "R"}, ["loan_ref"]),
        ({"outcome": "withdrawn", "amount": 5, "currency": "CNY"}, ["amount", "currency"]),
        ({**APPROVED, "amount": 0}, ["amount"]),
        ({**APPROVED, "amount": -1}, ["amount"]),
        ({**APPROVED, "amount": 10**15 + 1}, ["amount"]),
        ({**APPROVED, "amount": "300000"}, ["amount"]),
        ({**APPROVED, "currency": "XYZ"}, ["currency"]),
        ({**APPROVED, "loan_ref": ""}, ["loan_ref"]),
        ({**APPROVED, "loan_ref": "x" * 65}, ["loan_ref"]),
        ({"outcome": "accepted"}, ["outcome"]),
        ({}, ["outcome"]),
        ({"outcome": "declined", "note": "x"}, ["note"]),
    ],
)
def test_bad_bodies_are_422_naming_the_fields(client, new_lender, body, fields):
    lender = new_lender("lender")
    inquiry_id = inquire(client, lender)["inquiry_id"]
    assert fields_of(outcome(client, lender, inquiry_id, body)) == fields


def test_a_decline_is_never_shown_to_other_lenders(client, new_lender):
    applicant, asker = new_lender("applicant"), new_lender("asker")
    inquiry_id = inquire(client, applicant, amount_requested=200_000, currency="CNY")["inquiry_id"]
    before = inquire(client, asker)
    assert before["summary"]["pending_applications"] == 1
    assert before["summary"]["pending_amount"] == {"CNY": 200_000}
    assert outcome(client, applicant, inquiry_id, {"outcome": "declined"}).status_code == 201
    after = inquire(client, asker)
    # It simply stops being pending; the lender still asked (the windows count it).
    assert after["summary"]["pending_applications"] == 0
    assert after["summary"]["pending_amount"] == {}
    assert after["summary"]["provisional_loans"] == 0
    assert after["tradelines"] == [] and after["flags"] == []
    assert (
        after["summary"]["other_lenders_inquiring"] == before["summary"]["other_lenders_inquiring"]
    )
    assert "declin" not in str(after).lower()


def test_the_openapi_document_describes_the_route(client):
    document = client.get("/openapi.json").get_json()
    route = document["paths"]["/v1/inquiries/{inquiry_id}/outcome"]["post"]
    assert set(route["responses"]) >= {"200", "201", "404", "409", "422"}
    body = document["components"]["schemas"]["OutcomeBody"]["properties"]
    assert set(body) == {"outcome", "loan_ref", "amount", "currency"}
    answer = document["components"]["schemas"]["OutcomeOut"]["properties"]
    assert set(answer) == {
        "inquiry_id",
        "outcome",
        "loan_ref",
        "amount",
        "currency",
        "inquired_at",
        "recorded_at",
        "provisional_until",
    }


# --- the console's helpers ----------------------------------------------------------------


def test_outcome_rate_counts_new_credit_inquiries_by_outcome(client, new_lender, db_session):
    lender, other = new_lender("lender"), new_lender("other")
    ids = [inquire(client, lender, token(n))["inquiry_id"] for n in range(5)]
    inquire(client, other)  # another lender's: not counted
    client.post("/v1/loans", json={"loans": [loan("L-1", B)]}, headers=lender.headers)
    inquire(client, lender, purpose="account_review")  # not an application
    outcome(client, lender, ids[0], {**APPROVED, "loan_ref": "A"})
    outcome(client, lender, ids[1], {"outcome": "declined"})
    outcome(client, lender, ids[2], {"outcome": "declined"})
    outcome(client, lender, ids[3], {"outcome": "withdrawn"})
    rate = applications.outcome_rate(db_session, lender.id, NOW - timedelta(days=30), NOW)
    assert rate == applications.OutcomeRate(inquiries=5, approved=1, declined=2, withdrawn=1)
    assert rate.with_outcome == 4 and rate.share == pytest.approx(0.8)
    # The window's edges are included: since = NOW still counts them, a second later not.
    assert applications.outcome_rate(db_session, lender.id, NOW, NOW).inquiries == 5
    later = NOW + timedelta(seconds=1)
    assert applications.outcome_rate(db_session, lender.id, later, later).inquiries == 0
    assert applications.outcome_rate(db_session, other.id, NOW, NOW).share == 0
    assert applications.OutcomeRate(inquiries=0).share is None


def test_expired_provisional_loans_are_approvals_never_reported(
    client, new_lender, clock, db_session
):
    lender = new_lender("lender")
    kept, dropped, declined = (inquire(client, lender, token(n))["inquiry_id"] for n in range(3))
    outcome(client, lender, kept, {**APPROVED, "loan_ref": "KEPT"})
    outcome(client, lender, dropped, {**APPROVED, "loan_ref": "DROPPED"})
    outcome(client, lender, declined, {"outcome": "declined"})
    # KEPT is reported for its borrower; DROPPED only for someone else (not its loan).
    records = [loan("KEPT", token(0)), loan("DROPPED", token(9))]
    assert client.post("/v1/loans", json={"loans": records}, headers=lender.headers).status_code
    expired = applications.expired_provisional_loans
    assert expired(db_session, lender.id, NOW + timedelta(days=14), 14) == 0  # not yet over
    assert expired(db_session, lender.id, NOW + timedelta(days=14, seconds=1), 14) == 1
    assert expired(db_session, lender.id, NOW + timedelta(days=3, seconds=1), 3) == 1
    assert expired(db_session, new_lender("other").id, NOW + timedelta(days=99), 14) == 0
