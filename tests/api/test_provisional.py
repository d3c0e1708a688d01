"""Other lenders' applications in the report (issue 10): the 1-hour and 24-hour windows at their
boundaries, pending applications, provisional loans through their life cycle (approved ->
seen by others at once -> replaced by the loan, or expired), the flags APPLICATION_BURST and
PENDING_ELSEWHERE, count_provisional_loans on and off, and replays of reports recorded before
these fields existed. Clock frozen at NOW (2026-11-25 12:00 UTC)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from registry.db import transaction
from registry.models import Inquiry
from registry.services.applications import expired_provisional_loans
from registry.services.policy import set_threshold
from tests.helpers import NOW, iso, loan, token

B = token("provisional")


def inquire(client: Any, lender: Any, borrower: str = B, **extra: Any) -> dict[str, Any]:
    body = {"borrower": borrower, "purpose": "new_credit", "consent_ref": "c-1", **extra}
    response = client.post("/v1/inquiries", json=body, headers=lender.headers)
    assert response.status_code == 200, response.get_json()
    result: dict[str, Any] = response.get_json()
    return result


def approve(client: Any, lender: Any, loan_ref: str, amount: int = 300_000, **extra: Any) -> str:
    """The lender's application for B, approved now; returns the inquiry's id."""
    inquiry_id = inquire(client, lender, **extra)["inquiry_id"]
    body = {"outcome": "approved", "loan_ref": loan_ref, "amount": amount, "currency": "CNY"}
    response = client.post(f"/v1/inquiries/{inquiry_id}/outcome", json=body, headers=lender.headers)
    assert response.status_code == 201, response.get_json()
    return str(inquiry_id)


def report(client: Any, lender: Any, *records: dict[str, Any]) -> None:
    response = client.post("/v1/loans", json={"loans": list(records)}, headers=lender.headers)
    assert response.status_code == 200 and not response.get_json()["rejected"], response.get_json()


def codes(result: dict[str, Any]) -> list[str]:
    return [flag["code"] for flag in result["flags"]]


def detail(result: dict[str, Any], code: str) -> str:
    return next(str(f["detail"]) for f in result["flags"] if f["code"] == code)


def set_policy(db_session: Any, code: str, value: int) -> None:
    with transaction(db_session):
        set_threshold(db_session, code, value, NOW)


# --- windows ------------------------------------------------------------------------------


def test_the_hour_and_day_windows_include_their_boundaries(client, new_lender, clock):
    offsets = {
        "m59s59": timedelta(minutes=59, seconds=59),
        "m60": timedelta(minutes=60),
        "m60s1": timedelta(minutes=60, seconds=1),
        "h24": timedelta(hours=24),
        "h24s1": timedelta(hours=24, seconds=1),
    }
    for code, offset in offsets.items():
        clock.set(NOW - offset)
        inquire(client, new_lender(code))
    clock.set(NOW)
    result = inquire(client, new_lender("asker"))
    assert result["summary"]["other_lenders_inquiring"] == {
        "1h": 2,  # 59:59 and 60:00
        "24h": 4,  # and 60:01 and 24 hours exactly
        "1d": 4,
        "7d": 5,
        "30d": 5,
        "90d": 5,
    }
    assert "APPLICATION_BURST" in codes(result)
    assert detail(result, "APPLICATION_BURST") == (
        "4 other lenders made credit inquiries in the last 24 hours (threshold 2)"
    )


def test_application_burst_at_its_threshold(client, new_lender, clock):
    asker = new_lender("asker")
    clock.set(NOW - timedelta(hours=24, seconds=1))
    inquire(client, new_lender("too-old"))
    clock.set(NOW - timedelta(hours=24))
    inquire(client, new_lender("first"))
    clock.set(NOW)
    assert "APPLICATION_BURST" not in codes(inquire(client, asker))  # 1 of 2
    inquire(client, new_lender("second"))
    assert "APPLICATION_BURST" in codes(inquire(client, asker))  # 2 of 2
    clock.set(NOW + timedelta(seconds=1))  # "first" is now 24 hours and a second old
    assert "APPLICATION_BURST" not in codes(inquire(client, asker))


def test_pending_applications_are_the_last_7_days_without_outcome(client, new_lender, clock):
    asker = new_lender("asker")
    clock.set(NOW - timedelta(days=7, seconds=1))
    inquire(client, new_lender("too-old"), amount_requested=1, currency="CNY")
    clock.set(NOW - timedelta(days=7))
    inquire(client, new_lender("week"), amount_requested=100_000, currency="CNY")
    clock.set(NOW - timedelta(hours=3))
    twice = new_lender("twice")
    inquire(client, twice, amount_requested=20_000, currency="USD")
    inquire(client, twice)  # no amount: counted, adds nothing
    unanswered = inquire(client, new_lender("unanswered"), amount_requested=5, currency="CNY")
    path = f"/v1/inquiries/{unanswered['inquiry_id']}/outcome"
    intruder = new_lender("intruder").headers
    response = client.post(path, json={"outcome": "withdrawn"}, headers=intruder)
    assert response.status_code == 404  # only its lender may record it: still pending
    answered = new_lender("answered")
    withdrawn = inquire(client, answered, amount_requested=9, currency="CNY")
    path = f"/v1/inquiries/{withdrawn['inquiry_id']}/outcome"
    response = client.post(path, json={"outcome": "withdrawn"}, headers=answered.headers)
    assert response.status_code == 201  # withdrawn: no longer pending
    approve(client, new_lender("approved"), "P-1")  # approved: provisional, not pending
    inquire(client, asker, amount_requested=7, currency="CNY")  # the caller's own: never
    clock.set(NOW)
    summary = inquire(client, asker)["summary"]
    assert summary["pending_applications"] == 4  # week, twice (2), unanswered
    assert summary["pending_amount"] == {"CNY": 100_005, "USD": 20_000}
    assert summary["provisional_loans"] == 1


# --- the provisional life cycle -----------------------------------------------------------

PROVISIONAL_LINE = {
    "lender": "A",
    "own": False,
    "product": None,
    "currency": "CNY",
    "credit_limit": 300_000,
    "outstanding": 300_000,
    "amount_past_due": 0,
    "days_past_due": 0,
    "status": "provisional",
    "special_event": None,
    "opened_month": "2026-11",
    "closed_month": None,
    "last_reported_on": "2026-11-25",
    "age_days": 0,
    "stale": False,
    "status_24m": "",
    "provisional_until": "2026-12-09",
    "disputed": False,
}


def test_an_approval_is_seen_by_others_at_once_then_replaced_by_its_loan(
    client, new_lender, clock, db_session
):
    lender, asker = new_lender("lender"), new_lender("asker")
    approve(client, lender, "NEW-1")
    seen = inquire(client, asker)
    assert seen["tradelines"] == [PROVISIONAL_LINE]
    assert seen["summary"]["provisional_loans"] == 1
    assert seen["summary"]["provisional_amount"] == {"CNY": 300_000}
    assert seen["summary"]["pending_applications"] == 0
    # Not a reported loan: none of the loan figures count it.
    assert (seen["summary"]["open_loans"], seen["summary"]["outstanding"]) == (0, {})
    assert seen["summary"]["lenders_opened_30d"] == 0
    # The approving lender knows its own approval: its report leaves it out.
    own = inquire(client, lender)
    assert own["tradelines"] == [] and own["summary"]["provisional_loans"] == 0

    clock.advance(timedelta(days=2))
    report(client, lender, loan("NEW-1", B, outstanding=290_000, as_of=iso(clock.now())))
    replaced = inquire(client, asker)
    assert [line["status"] for line in replaced["tradelines"]] == ["open"]
    assert replaced["summary"]["provisional_loans"] == 0
    assert replaced["summary"]["provisional_amount"] == {}
    assert replaced["summary"]["open_loans"] == 1
    assert replaced["summary"]["outstanding"] == {"CNY": 290_000}
    # And it stays replaced: never expired, never counted against the lender.
    clock.advance(timedelta(days=30))
    assert expired_provisional_loans(db_session, lender.id, clock.now(), 14) == 0


def test_a_loan_reported_before_the_approval_is_counted_once(client, new_lender):
    lender, asker = new_lender("lender"), new_lender("asker")
    report(client, lender, loan("EARLY", B, outstanding=300_000))
    approve(client, lender, "EARLY")
    seen = inquire(client, asker)
    assert [line["status"] for line in seen["tradelines"]] == ["open"]
    assert seen["summary"]["provisional_loans"] == 0


def test_only_the_same_loan_ref_for_the_same_borrower_replaces_it(client, new_lender):
    lender, asker = new_lender("lender"), new_lender("asker")
    approve(client, lender, "NEW-1")
    report(client, lender, loan("NEW-1", token("someone else")), loan("OTHER", B))
    seen = inquire(client, asker)
    assert sorted(line["status"] for line in seen["tradelines"]) == ["open", "provisional"]
    # One lender, one label: its loan and its provisional loan.
    assert {line["lender"] for line in seen["tradelines"]} == {"A"}
    assert seen["summary"]["provisional_loans"] == 1


def test_an_unreported_approval_expires_after_provisional_days(
    client, new_lender, clock, db_session
):
    lender, asker = new_lender("lender"), new_lender("asker")
    approve(client, lender, "NEW-1")
    clock.set(NOW + timedelta(days=14))  # provisional_until itself: still shown
    last = inquire(client, asker)
    assert last["summary"]["provisional_loans"] == 1
    assert last["tradelines"] == [{**PROVISIONAL_LINE, "age_days": 14}]
    assert expired_provisional_loans(db_session, lender.id, clock.now(), 14) == 0
    clock.set(NOW + timedelta(days=14, seconds=1))
    gone = inquire(client, asker)
    assert gone["tradelines"] == [] and gone["summary"]["provisional_loans"] == 0
    assert expired_provisional_loans(db_session, lender.id, clock.now(), 14) == 1
    # A later report of the loan still takes it off the lender's expired count.
    report(client, lender, loan("NEW-1", B, as_of=iso(clock.now())))
    assert expired_provisional_loans(db_session, lender.id, clock.now(), 14) == 0


def test_provisional_days_come_from_the_policy(client, new_lender, clock, db_session):
    set_policy(db_session, "provisional_days", 3)
    lender, asker = new_lender("lender"), new_lender("asker")
    inquiry_id = inquire(client, lender)["inquiry_id"]
    body = {"outcome": "approved", "loan_ref": "N", "amount": 5, "currency": "CNY"}
    answer = client.post(
        f"/v1/inquiries/{inquiry_id}/outcome", json=body, headers=lender.headers
    ).get_json()
    assert answer["provisional_until"] == iso(NOW + timedelta(days=3))
    clock.set(NOW + timedelta(days=3))
    (line,) = inquire(client, asker)["tradelines"]
    assert line["provisional_until"] == "2026-11-28"
    clock.set(NOW + timedelta(days=3, seconds=1))
    assert inquire(client, asker)["tradelines"] == []


# --- flags --------------------------------------------------------------------------------


@pytest.mark.parametrize("counted", [1, 0])
def test_provisional_loans_count_towards_multi_lender_and_rapid_borrowing(
    client, new_lender, db_session, counted
):
    set_policy(db_session, "count_provisional_loans", counted)
    asker = new_lender("asker")
    recent = (NOW - timedelta(days=5)).date().isoformat()
    report(client, new_lender("one"), loan("ONE", B, opened_on=recent))
    report(client, new_lender("two"), loan("TWO", B, opened_on=recent))
    approve(client, new_lender("three"), "THREE")
    result = inquire(client, asker)
    raised = {"MULTI_LENDER", "RAPID_BORROWING"} & set(codes(result))
    if counted:
        assert raised == {"MULTI_LENDER", "RAPID_BORROWING"}
        assert detail(result, "MULTI_LENDER") == (
            "3 lenders have open loans with something outstanding (undrawn lines not counted; "
            "stale loans not counted, provisional loans included) (threshold 3)"
        )
        assert detail(result, "RAPID_BORROWING") == (
            "3 distinct lenders opened loans in the last 30 days (stale loans not counted, "
            "provisional loans included) (threshold 3)"
        )
    else:
        assert raised == set()
    # The figures a lender reads are the loans' alone either way.
    assert result["summary"]["lenders_opened_30d"] == 2
    assert result["summary"]["provisional_loans"] == 1


def test_a_lender_with_a_loan_and_a_provisional_loan_counts_once(client, new_lender):
    asker, both = new_lender("asker"), new_lender("both")
    report(client, both, loan("OLD", B))
    report(client, new_lender("other"), loan("O", B))
    approve(client, both, "NEW")
    result = inquire(client, asker)
    assert result["summary"]["provisional_loans"] == 1
    assert "MULTI_LENDER" not in codes(result)  # 2 lenders, not 3


def test_an_approval_older_than_30_days_is_no_rapid_borrowing(
    client, new_lender, clock, db_session
):
    set_policy(db_session, "provisional_days", 60)
    asker = new_lender("asker")
    clock.set(NOW - timedelta(days=31))
    approve(client, new_lender("old"), "OLD")
    clock.set(NOW)
    recent = (NOW - timedelta(days=5)).date().isoformat()
    report(client, new_lender("one"), loan("ONE", B, opened_on=recent))
    report(client, new_lender("two"), loan("TWO", B, opened_on=recent))
    result = inquire(client, asker)
    assert result["summary"]["provisional_loans"] == 1
    assert "RAPID_BORROWING" not in codes(result)
    assert "MULTI_LENDER" in codes(result)  # it still is a lender with a balance


def test_pending_elsewhere_adds_pending_applications_and_provisional_loans(client, new_lender):
    asker = new_lender("asker")
    approve(client, new_lender("approver"), "P")
    result = inquire(client, asker)
    assert "PENDING_ELSEWHERE" not in codes(result)  # 1 of 2
    inquire(client, new_lender("pending"), amount_requested=50_000, currency="CNY")
    result = inquire(client, asker)
    assert detail(result, "PENDING_ELSEWHERE") == (
        "1 pending application(s) and 1 provisional loan(s) at other lenders (threshold 2)"
    )


def test_two_approvals_within_the_hour_flag_a_third_lender(client, new_lender, clock):
    """The issue's walk-through: two lenders approve the same applicant within the hour; a
    third lender's inquiry shows the burst before any loan is uploaded."""
    first, second, third = new_lender("first"), new_lender("second"), new_lender("third")
    approve(client, first, "F-1", 400_000)
    clock.advance(timedelta(minutes=40))
    approve(client, second, "S-1", 250_000)
    clock.advance(timedelta(minutes=10))
    result = inquire(client, third)
    assert {"APPLICATION_BURST", "PENDING_ELSEWHERE"} <= set(codes(result))
    assert result["summary"]["other_lenders_inquiring"]["1h"] == 2
    assert result["summary"]["provisional_amount"] == {"CNY": 650_000}


# --- replays ------------------------------------------------------------------------------


def test_a_report_recorded_before_these_fields_replays(client, new_lender, db_session):
    asker = new_lender("asker")
    body = {"borrower": B, "purpose": "new_credit", "consent_ref": "c"}
    headers = {**asker.headers, "Idempotency-Key": "before-issue-10"}
    first = client.post("/v1/inquiries", json=body, headers=headers).get_json()
    new_figures = ("pending_applications", "pending_amount", "provisional_loans")
    with transaction(db_session):
        row = db_session.scalar(select(Inquiry))
        stored = dict(row.report)
        stored.pop("identity")
        summary = {k: v for k, v in stored["summary"].items() if k not in new_figures}
        summary.pop("provisional_amount")
        summary["other_lenders_inquiring"] = {"1d": 0, "7d": 0, "30d": 0, "90d": 0}
        row.report = {**stored, "summary": summary}
    again = client.post("/v1/inquiries", json=body, headers=headers)
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    replayed = again.get_json()
    assert replayed["identity"] == {"phones_90d": 0, "max_borrowers_per_phone": 0}
    assert replayed["summary"]["other_lenders_inquiring"] == {
        "1d": 0,
        "7d": 0,
        "30d": 0,
        "90d": 0,
    }
    assert {k: replayed["summary"][k] for k in (*new_figures, "provisional_amount")} == {
        "pending_applications": 0,
        "pending_amount": {},
        "provisional_loans": 0,
        "provisional_amount": {},
    }
    assert {k: v for k, v in replayed.items() if k != "summary"} == {
        k: v for k, v in first.items() if k != "summary"
    }
