"""The over-indebtedness report: every figure and flag against hand-computed values,
thresholds at their edges and time windows at their boundaries (frozen clock)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from registry.db import transaction
from registry.models import Inquiry
from registry.services.policy import set_threshold
from tests.helpers import NOW, iso, loan, token

B = token("applicant")


def report(client: Any, lender: Any, records: list[dict[str, Any]]) -> None:
    response = client.post("/v1/loans", json={"loans": records}, headers=lender.headers)
    assert response.status_code == 200 and not response.get_json()["rejected"], response.get_json()


def inquire(
    client: Any, lender: Any, borrower: str = B, purpose: str = "new_credit", **extra: Any
) -> dict[str, Any]:
    body = {"borrower": borrower, "purpose": purpose, "consent_ref": "consent-1", **extra}
    response = client.post("/v1/inquiries", json=body, headers=lender.headers)
    assert response.status_code == 200, response.get_json()
    result: dict[str, Any] = response.get_json()
    return result


# The figures a report had before tradelines (tests of the newer ones: test_tradelines.py).
LEGACY_FIGURES = {
    "open_loans",
    "lenders_with_open_loans",
    "other_lenders_with_open_loans",
    "outstanding",
    "max_days_past_due",
    "past_due_loans",
    "written_off_loans",
    "loans_opened_last_30d",
    "other_lenders_inquiring",
}


def codes(result: dict[str, Any]) -> list[str]:
    return [flag["code"] for flag in result["flags"]]


def test_unknown_borrower_gets_an_empty_report(client, new_lender):
    result = inquire(client, new_lender())
    assert result["summary"] == {
        "open_loans": 0,
        "lenders_with_open_loans": 0,
        "other_lenders_with_open_loans": 0,
        "outstanding": {},
        "max_days_past_due": 0,
        "past_due_loans": 0,
        "written_off_loans": 0,
        "loans_opened_last_30d": 0,
        "other_lenders_inquiring": {"1h": 0, "24h": 0, "1d": 0, "7d": 0, "30d": 0, "90d": 0},
        "worst_days_past_due_12m": 0,
        "worst_days_past_due_24m": 0,
        "last_delinquent_on": None,
        "written_off_amount": {},
        "amount_past_due": {},
        "monthly_obligations": {},
        "credit_limit": {},
        "utilisation": {},
        "outstanding_with_request": None,
        "lenders_opened_30d": 0,
        "lenders_opened_90d": 0,
        "lenders_opened_180d": 0,
        "loans_closed_90d": 0,
        "stale_open_loans": 0,
        "pending_applications": 0,
        "pending_amount": {},
        "provisional_loans": 0,
        "provisional_amount": {},
        "disputed_tradelines": 0,
    }
    assert result["identity"] == {"phones_90d": 0, "max_borrowers_per_phone": 0}
    assert result["statement"] is None
    assert result["own"] == {"open_loans": 0, "outstanding": {}}
    assert result["tradelines"] == []
    assert result["flags"] == []
    assert result["borrower"] == B and result["purpose"] == "new_credit"
    assert result["generated_at"] == iso(NOW) and result["inquiry_id"]


def test_every_figure_matches_a_hand_computed_book(client, new_lender):
    me, a, b, c = new_lender("me"), new_lender("alpha"), new_lender("bravo"), new_lender("charlie")
    recent, old = (NOW - timedelta(days=10)).date().isoformat(), "2025-01-15"
    report(
        client,
        me,
        [
            loan("M1", B, outstanding=100_00, opened_on=old, due_on="2026-12-31"),
            loan("M2", B, currency="USD", outstanding=5_00, opened_on=recent, due_on="2027-01-31"),
        ],
    )
    report(
        client,
        a,
        [
            loan("A1", B, outstanding=2_000_00, days_past_due=12, opened_on=recent),
            loan(
                "A2", B, status="closed", outstanding=0, opened_on=recent
            ),  # closed: only "opened"
        ],
    )
    report(
        client,
        b,
        [
            loan(
                "B1",
                B,
                status="written_off",
                outstanding=777_00,
                days_past_due=400,
                opened_on=old,
                due_on="2025-06-01",
            ),
            loan("B2", B, outstanding=1, days_past_due=3, opened_on=old, due_on="2026-12-01"),
        ],
    )
    report(client, c, [loan("X1", token("someone else"), outstanding=9_999_99)])

    result = inquire(client, me)
    assert {k: v for k, v in result["summary"].items() if k in LEGACY_FIGURES} == {
        "open_loans": 4,  # M1, M2, A1, B2
        "lenders_with_open_loans": 3,  # me, alpha, bravo
        "other_lenders_with_open_loans": 2,
        "outstanding": {"CNY": 100_00 + 2_000_00 + 1, "USD": 5_00},
        "max_days_past_due": 12,  # written-off B1 (400) is not an open loan
        "past_due_loans": 2,  # A1, B2
        "written_off_loans": 1,
        "loans_opened_last_30d": 3,  # M2, A1, A2
        "other_lenders_inquiring": {"1h": 0, "24h": 0, "1d": 0, "7d": 0, "30d": 0, "90d": 0},
    }
    assert result["own"] == {"open_loans": 2, "outstanding": {"CNY": 100_00, "USD": 5_00}}
    # RAPID_BORROWING counts lenders (me and alpha: 2); B1 was 400 days past due.
    assert codes(result) == ["MULTI_LENDER", "WRITTEN_OFF", "PAST_DUE_HISTORY"]

    # The same book seen by alpha: only "own" and "other" change.
    seen_by_alpha = inquire(client, a)
    assert seen_by_alpha["summary"]["other_lenders_with_open_loans"] == 2
    assert seen_by_alpha["own"] == {"open_loans": 1, "outstanding": {"CNY": 2_000_00}}


def test_report_never_names_another_lender_or_reference(client, new_lender):
    me, other = new_lender("me"), new_lender("secretive", "Secretive Lending Ltd")
    report(client, other, [loan("SECRET-REF-42", B)])
    text = json.dumps(inquire(client, me))
    for leaked in ("secretive", "Secretive", "SECRET-REF-42", str(other.id) + ","):
        assert leaked not in text


@pytest.mark.parametrize("lenders_with_loans, flagged", [(2, False), (3, True), (4, True)])
def test_multi_lender_threshold_edge(client, new_lender, lenders_with_loans, flagged):
    asker = new_lender("asker")
    for i in range(lenders_with_loans):
        report(client, new_lender(f"holder{i}"), [loan(f"H{i}", B)])
    assert ("MULTI_LENDER" in codes(inquire(client, asker))) is flagged


def test_multi_lender_counts_lenders_not_loans(client, new_lender):
    asker, holder = new_lender("asker"), new_lender("holder")
    report(client, holder, [loan(f"H{i}", B) for i in range(5)])
    result = inquire(client, asker)
    assert result["summary"]["open_loans"] == 5
    assert result["summary"]["lenders_with_open_loans"] == 1
    assert "MULTI_LENDER" not in codes(result)


@pytest.mark.parametrize("days, flagged", [(29, False), (30, True), (31, True)])
def test_past_due_elsewhere_threshold_edge(client, new_lender, days, flagged):
    asker, other = new_lender("asker"), new_lender("other")
    report(client, other, [loan("O1", B, days_past_due=days)])
    assert ("PAST_DUE_ELSEWHERE" in codes(inquire(client, asker))) is flagged


def test_past_due_elsewhere_ignores_own_and_non_open_loans(client, new_lender):
    asker, other = new_lender("asker"), new_lender("other")
    report(client, asker, [loan("MINE", B, days_past_due=90)])
    report(client, other, [loan("WO", B, status="written_off", days_past_due=300)])
    result = inquire(client, asker)
    assert "PAST_DUE_ELSEWHERE" not in codes(result)
    assert result["summary"]["max_days_past_due"] == 90


def test_written_off_flag_counts_any_written_off_loan(client, new_lender):
    asker = new_lender("asker")
    result = inquire(client, asker)
    assert "WRITTEN_OFF" not in codes(result)
    report(client, asker, [loan("W", B, status="written_off", days_past_due=0)])
    assert "WRITTEN_OFF" in codes(inquire(client, asker))


@pytest.mark.parametrize("days_ago, counted", [(29, True), (30, True), (31, False)])
def test_loans_opened_window_boundary(client, new_lender, days_ago, counted):
    asker = new_lender("asker")
    opened = (NOW.date() - timedelta(days=days_ago)).isoformat()
    report(client, asker, [loan("L", B, opened_on=opened, due_on="2027-06-01")])
    assert inquire(client, asker)["summary"]["loans_opened_last_30d"] == int(counted)


@pytest.mark.parametrize("lenders_opening, flagged", [(2, False), (3, True)])
def test_rapid_borrowing_threshold_edge(client, new_lender, lenders_opening, flagged):
    asker = new_lender("asker")
    recent = (NOW.date() - timedelta(days=5)).isoformat()
    for i in range(lenders_opening):
        report(client, new_lender(f"opener{i}"), [loan(f"R{i}", B, opened_on=recent)])
    assert ("RAPID_BORROWING" in codes(inquire(client, asker))) is flagged


def test_rapid_borrowing_counts_lenders_not_repeat_loans(client, new_lender):
    """Three loans in a row from one lender are one lender opening loans."""
    asker = new_lender("asker")
    recent = (NOW.date() - timedelta(days=5)).isoformat()
    report(client, asker, [loan(f"R{i}", B, opened_on=recent) for i in range(3)])
    result = inquire(client, asker)
    assert result["summary"]["loans_opened_last_30d"] == 3
    assert result["summary"]["lenders_opened_30d"] == 1
    assert "RAPID_BORROWING" not in codes(result)


def test_inquiry_windows_at_their_boundaries(client, new_lender, clock):
    """Lender i asks at NOW - offset_i; a window of N days holds [now - N x 24h, now]."""
    asker = new_lender("asker")
    offsets = {
        "w1_in": timedelta(days=1),
        "w1_out": timedelta(days=1, seconds=1),
        "w7_in": timedelta(days=7),
        "w7_out": timedelta(days=7, microseconds=1),
        "w30_in": timedelta(days=30),
        "w90_in": timedelta(days=90),
        "w90_out": timedelta(days=90, seconds=1),
    }
    for code, offset in offsets.items():
        clock.set(NOW - offset)
        inquire(client, new_lender(code.replace("_", "-")))
    clock.set(NOW)
    result = inquire(client, asker)
    # 1d (24h alike): w1_in. 7d: + w1_out, w7_in. 30d: + w7_out, w30_in. 90d: + w90_in.
    assert result["summary"]["other_lenders_inquiring"] == {
        "1h": 0,
        "24h": 1,
        "1d": 1,
        "7d": 3,
        "30d": 5,
        "90d": 6,
    }


def test_inquiries_count_distinct_other_lenders_and_not_this_one(client, new_lender, clock):
    asker, other = new_lender("asker"), new_lender("other")
    for hours in (1, 2, 3):
        clock.set(NOW - timedelta(hours=hours))
        inquire(client, other)  # one lender asking three times counts once
        inquire(client, asker)  # the caller's own inquiries never count
    clock.set(NOW)
    first = inquire(client, asker)
    assert first["summary"]["other_lenders_inquiring"] == {
        "1h": 1,
        "24h": 1,
        "1d": 1,
        "7d": 1,
        "30d": 1,
        "90d": 1,
    }
    # From other's point of view: asker counts, and the inquiry other is making does not.
    assert inquire(client, other)["summary"]["other_lenders_inquiring"]["1d"] == 1


def test_account_review_is_recorded_but_never_counted(client, new_lender, db_session):
    asker, reviewer = new_lender("asker"), new_lender("reviewer")
    report(client, reviewer, [loan("R1", B)])
    inquire(client, reviewer, purpose="account_review", consent_ref=None)
    result = inquire(client, asker)
    assert result["summary"]["other_lenders_inquiring"]["1d"] == 0
    rows = db_session.scalars(select(Inquiry).order_by(Inquiry.created_at)).all()
    db_session.rollback()
    assert sorted(r.purpose for r in rows) == ["account_review", "new_credit"]


@pytest.mark.parametrize("askers, flagged", [(2, False), (3, True)])
def test_application_spree_threshold_edge(client, new_lender, clock, askers, flagged):
    target = new_lender("target")
    for i in range(askers):
        clock.set(NOW - timedelta(days=6))
        inquire(client, new_lender(f"asker{i}"))
    clock.set(NOW)
    assert ("APPLICATION_SPREE" in codes(inquire(client, target))) is flagged


def test_spree_uses_the_seven_day_window(client, new_lender, clock):
    target = new_lender("target")
    for i in range(3):
        clock.set(NOW - timedelta(days=8))
        inquire(client, new_lender(f"asker{i}"))
    clock.set(NOW)
    result = inquire(client, target)
    assert result["summary"]["other_lenders_inquiring"]["30d"] == 3
    assert "APPLICATION_SPREE" not in codes(result)


def test_new_credit_inquiry_is_recorded_with_amount_and_consent(client, new_lender, db_session):
    asker = new_lender("asker")
    result = inquire(client, asker, amount_requested=500_000, currency="CNY", consent_ref="C-77")
    row = db_session.scalar(select(Inquiry))
    db_session.rollback()
    assert row.id == result["inquiry_id"] and row.borrower.hex() == B
    assert (row.purpose, row.consent_ref, row.amount_requested, row.currency) == (
        "new_credit",
        "C-77",
        500_000,
        "CNY",
    )
    assert row.lender_id == asker.id and row.created_at == NOW


def test_the_report_carries_what_was_requested(client, new_lender, db_session):
    asker = new_lender("asker")
    result = inquire(client, asker, amount_requested=500_000, currency="CNY")
    assert result["requested"] == {"amount": 500_000, "currency": "CNY"}
    assert inquire(client, asker)["requested"] is None  # the inquiry named no amount
    recorded = db_session.scalars(select(Inquiry.report).order_by(Inquiry.created_at)).all()
    db_session.rollback()
    assert [r["requested"] for r in recorded] == [{"amount": 500_000, "currency": "CNY"}, None]


def test_a_replay_of_a_report_recorded_without_requested_names_it(client, new_lender, db_session):
    """Reports recorded before the field existed: the replay takes it from the row."""
    asker = new_lender("asker")
    body = {
        "borrower": B,
        "purpose": "new_credit",
        "consent_ref": "c",
        "amount_requested": 300_000,
        "currency": "CNY",
    }
    headers = {**asker.headers, "Idempotency-Key": "old-report"}
    first = client.post("/v1/inquiries", json=body, headers=headers).get_json()
    with transaction(db_session):
        row = db_session.scalar(select(Inquiry))
        row.report = {k: v for k, v in row.report.items() if k != "requested"}
    again = client.post("/v1/inquiries", json=body, headers=headers)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first


def test_policy_change_applies_to_the_next_inquiry(client, new_lender, db_session):
    asker = new_lender("asker")
    for i in range(2):
        report(client, new_lender(f"holder{i}"), [loan(f"H{i}", B)])
    assert "MULTI_LENDER" not in codes(inquire(client, asker))
    with transaction(db_session):
        set_threshold(db_session, "MULTI_LENDER", 2, NOW)
    result = inquire(client, asker)
    assert "MULTI_LENDER" in codes(result)
    assert "threshold 2" in result["flags"][0]["detail"]
    with transaction(db_session):
        set_threshold(db_session, "MULTI_LENDER", 2, NOW, enabled=False)
    assert "MULTI_LENDER" not in codes(inquire(client, asker))


@pytest.mark.parametrize(
    "body, field",
    [
        ({"borrower": "abc", "purpose": "new_credit", "consent_ref": "c"}, "borrower"),
        ({"borrower": B, "purpose": "marketing", "consent_ref": "c"}, "purpose"),
        ({"borrower": B, "purpose": "new_credit"}, "consent_ref"),
        ({"borrower": B, "purpose": "new_credit", "consent_ref": ""}, "consent_ref"),
        ({"borrower": B, "purpose": "new_credit", "consent_ref": "c" * 129}, "consent_ref"),
        (
            {"borrower": B, "purpose": "new_credit", "consent_ref": "c", "amount_requested": -1},
            "amount_requested",
        ),
        (
            {"borrower": B, "purpose": "new_credit", "consent_ref": "c", "amount_requested": 1.5},
            "amount_requested",
        ),
        (
            {"borrower": B, "purpose": "new_credit", "consent_ref": "c", "amount_requested": 100},
            "currency",
        ),
        (
            {"borrower": B, "purpose": "new_credit", "consent_ref": "c", "currency": "yen"},
            "currency",
        ),
        ({"borrower": B, "purpose": "new_credit", "consent_ref": "c", "lender": "x"}, "lender"),
        ({"purpose": "new_credit", "consent_ref": "c"}, "borrower"),
        ([], "(body)"),
    ],
)
def test_bad_inquiries_are_422_problems_naming_the_field(
    client, new_lender, body, field, db_session
):
    response = client.post("/v1/inquiries", json=body, headers=new_lender().headers)
    assert response.status_code == 422
    problem = response.get_json()
    assert problem["type"] == "/problems/validation"
    assert [e["field"] for e in problem["errors"]] == [field]
    assert db_session.scalar(select(Inquiry)) is None
    db_session.rollback()


def test_account_review_needs_no_consent(client, new_lender):
    lender = new_lender()
    report(client, lender, [loan("MINE", B)])
    body = {"borrower": B, "purpose": "account_review"}
    assert client.post("/v1/inquiries", json=body, headers=lender.headers).status_code == 200


def test_account_review_only_of_a_borrower_the_caller_holds_a_loan_with(
    client, new_lender, db_session
):
    stranger, holder = new_lender("stranger"), new_lender("holder")
    report(client, holder, [loan("H", B)])
    body = {"borrower": B, "purpose": "account_review", "consent_ref": "c"}
    response = client.post("/v1/inquiries", json=body, headers=stranger.headers)
    assert response.status_code == 403
    assert response.get_json()["type"] == "/problems/forbidden"
    assert "new_credit" in response.get_json()["detail"]
    assert db_session.scalar(select(Inquiry)) is None
    db_session.rollback()
