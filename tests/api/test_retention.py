"""Retention on both backends with the clock frozen: loans reported through POST /v1/loans and
inquiries through POST /v1/inquiries, then the retention run (`run_retention`) the day before,
the day and the day after each retention end; reports hiding what the run would remove before
it runs; what goes with a loan; the run's counts, audit event, dry run and idempotence."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from registry.db import transaction
from registry.models import (
    ApplicationOutcome,
    AuditEvent,
    BorrowerPhone,
    Dispute,
    Inquiry,
    InquiryKey,
    Loan,
    LoanCorrection,
    LoanHistory,
    LoanMonth,
    LoanRef,
    PhoneBorrower,
)
from registry.services.policy import set_threshold
from registry.services.retention import run_retention
from tests.helpers import NOW, loan, token

B = token("retention")
TODAY = NOW.date()  # 2026-11-25: each loan below is kept through this day, not the next
DAY = timedelta(days=1)
ZERO = {
    "loans": 0,
    "loan_history": 0,
    "loan_months": 0,
    "loan_corrections": 0,
    "disputes": 0,
    "loan_refs": 0,
    "inquiries": 0,
    "application_outcomes": 0,
    "inquiry_keys": 0,
    "phone_sightings": 0,
}


def rec(ref: str, as_of: date, borrower: str = B, **fields: Any) -> dict[str, Any]:
    fields.setdefault("opened_on", "2020-01-02")
    fields.setdefault("due_on", "2027-12-31")
    return loan(ref, borrower, as_of=f"{as_of.isoformat()}T12:00:00Z", **fields)


def report(client: Any, lender: Any, *records: dict[str, Any]) -> None:
    for record in records:  # one by one: each a newer state of its loan
        response = client.post("/v1/loans", json={"loans": [record]}, headers=lender.headers)
        body = response.get_json()
        assert response.status_code == 200 and not body["rejected"], body


def ask(client: Any, lender: Any, borrower: str = B, **headers: str) -> dict[str, Any]:
    body = {"borrower": borrower, "purpose": "new_credit", "consent_ref": "c-1"}
    response = client.post("/v1/inquiries", json=body, headers={**lender.headers, **headers})
    assert response.status_code == 200, response.get_json()
    result: dict[str, Any] = response.get_json()
    return result


def stored_refs(db_session: Any) -> set[str]:
    with transaction(db_session, write=False):
        return set(db_session.scalars(select(Loan.loan_ref)))


def count(db_session: Any, model: Any) -> int:
    with transaction(db_session, write=False):
        return int(db_session.scalar(select(func.count()).select_from(model)))


# Each story's loan is kept through TODAY (2026-11-25) and removed from the day after.
STORIES: dict[str, list[dict[str, Any]]] = {
    # Written off 2021-11-25 and repaid in 2023: 5 years from the write-off.
    "written_off": [
        rec("W", date(2021, 10, 1), days_past_due=120),
        rec("W", date(2021, 11, 25), status="written_off", days_past_due=150),
        rec(
            "W",
            date(2023, 3, 1),
            status="closed",
            special_event="repaid_after_write_off",
            days_past_due=0,
        ),
    ],
    # Past due, then closed (current) 2021-11-25: 5 years from the closing.
    "closed_past_due": [
        rec("P", date(2021, 10, 26), days_past_due=40),
        rec("P", date(2021, 11, 25), status="closed"),
    ],
    # Past due, brought current 2021-11-25, closed 2025-06-30: 5 years from 2021-11-25, not
    # from the closing (and a report still shows such a loan 5 years after closing).
    "brought_current": [
        rec("C", date(2021, 10, 26), days_past_due=30),
        rec("C", date(2021, 11, 25)),
        rec("C", date(2025, 6, 30), status="closed"),
    ],
    # Never past due, closed 2021-11-25: retention_closed_months (60) from the closing.
    "clean": [
        rec("K", date(2021, 6, 1)),
        rec("K", date(2021, 11, 25), status="closed"),
    ],
}


@pytest.mark.parametrize("offset, removed", [(-1, False), (0, False), (1, True)])
@pytest.mark.parametrize("story", list(STORIES))
def test_each_loans_retention_end_the_day_before_the_day_and_the_day_after(
    client, new_lender, db_session, story, offset, removed
):
    report(client, new_lender("holder"), *STORIES[story])
    (ref,) = stored_refs(db_session)
    counts = run_retention(db_session, NOW + offset * DAY)
    assert counts["loans"] == int(removed)
    assert stored_refs(db_session) == (set() if removed else {ref})


def test_retention_closed_months_is_the_policys(client, new_lender, db_session):
    report(client, new_lender("holder"), rec("K", date(2025, 11, 25), status="closed"))
    assert run_retention(db_session, NOW + DAY)["loans"] == 0  # 60 months by default
    with transaction(db_session):
        set_threshold(db_session, "retention_closed_months", 12, NOW)
    assert run_retention(db_session, NOW)["loans"] == 0
    assert run_retention(db_session, NOW + DAY)["loans"] == 1


def test_an_open_loan_is_kept_however_old_its_negative_history(client, new_lender, db_session):
    report(
        client,
        new_lender("holder"),
        rec("O", date(2020, 1, 10), days_past_due=90),
        rec("O", date(2020, 3, 10)),
    )
    assert run_retention(db_session, NOW + 3650 * DAY)["loans"] == 0


# --- read time: reports never show what the run would remove ----------------------------


def test_reports_hide_a_loan_past_retention_before_the_run(client, new_lender, db_session, clock):
    asker = new_lender("asker")
    report(client, new_lender("holder"), *STORIES["brought_current"])
    assert [line["status"] for line in ask(client, asker)["tradelines"]] == ["closed"]
    clock.set(NOW + DAY)
    result = ask(client, asker)
    assert result["tradelines"] == [] and result["summary"]["last_delinquent_on"] is None
    assert stored_refs(db_session) == {"C"}  # still stored: the run has not run
    assert run_retention(db_session, NOW + DAY)["loans"] == 1


def test_reports_follow_retention_closed_months_below_the_24_months_shown(
    client, new_lender, db_session, clock
):
    asker = new_lender("asker")
    report(client, new_lender("holder"), rec("K", date(2025, 11, 25), status="closed"))
    with transaction(db_session):
        set_threshold(db_session, "retention_closed_months", 12, NOW)
    assert len(ask(client, asker)["tradelines"]) == 1
    clock.set(NOW + DAY)
    assert ask(client, asker)["tradelines"] == []
    assert stored_refs(db_session) == {"K"}


# --- what goes with a loan, the counts, the audit event ----------------------------------


def _book(client: Any, new_lender: Any, db_session: Any, clock: Any) -> None:
    """B's brought-current loan (removed the day after TODAY) with a replaced report, a
    dispute and a phone; another borrower's open loan and phone (kept); a third borrower's
    open loan with a phone last seen 91 days ago (the sighting goes, the loan stays)."""
    holder = new_lender("holder")
    first, *rest = STORIES["brought_current"]
    report(client, holder, {**first, "phone_token": "ab" * 32}, *rest)
    report(client, holder, rec("X", TODAY, token("other"), phone_token="cd" * 32))
    clock.set(NOW - 91 * DAY)
    report(client, holder, rec("Y", (NOW - 91 * DAY).date(), token("third"), phone_token="ef" * 32))
    clock.set(NOW)
    with transaction(db_session):
        db_session.add(
            LoanCorrection(
                borrower=bytes.fromhex(B),
                lender_id=holder.id,
                loan_ref="C",
                as_of=datetime(2021, 11, 25, 12, tzinfo=UTC),
                corrected_at=datetime(2021, 12, 1, tzinfo=UTC),
                replaced={"days_past_due": 3},
                submission_id="s-1",
            )
        )
        db_session.add(
            Dispute(
                borrower=bytes.fromhex(B),
                id="d-1",
                lender_id=holder.id,
                loan_ref="C",
                tradeline="A",
                reason="never late",
                opened_at=NOW,
                due_at=NOW + 20 * DAY,
                status="open",
            )
        )


REMOVED = {
    **ZERO,
    "loans": 1,
    "loan_history": 3,
    "loan_months": 3,  # 2021-10, 2021-11, 2025-06
    "loan_corrections": 1,
    "disputes": 1,
    "loan_refs": 1,
    "phone_sightings": 2,  # B's (nothing left of B) and the third borrower's (91 days)
}


def test_the_run_removes_a_loan_with_everything_of_it(client, new_lender, db_session, clock):
    _book(client, new_lender, db_session, clock)
    assert run_retention(db_session, NOW - DAY) == ZERO  # the third's phone: 90 days old
    assert run_retention(db_session, NOW + DAY) == REMOVED
    assert stored_refs(db_session) == {"X", "Y"}
    for model in (LoanHistory, LoanMonth, LoanRef):
        with transaction(db_session, write=False):
            refs = set(db_session.scalars(select(model.loan_ref)))
        assert refs == {"X", "Y"}, model
    assert count(db_session, LoanCorrection) == count(db_session, Dispute) == 0
    with transaction(db_session, write=False):
        phones = {p.hex()[:2] for p in db_session.scalars(select(BorrowerPhone.phone))}
        by_phone = {p.hex()[:2] for p in db_session.scalars(select(PhoneBorrower.phone))}
    assert phones == by_phone == {"cd"}


def test_one_audit_event_per_run_and_a_second_run_removes_nothing(
    client, new_lender, db_session, clock
):
    _book(client, new_lender, db_session, clock)
    run_retention(db_session, NOW + DAY)
    assert run_retention(db_session, NOW + DAY) == ZERO
    with transaction(db_session, write=False):
        events = list(
            db_session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == "retention_run")
                .order_by(AuditEvent.id)
            )
        )
    assert [e.details["removed"] for e in events] == [REMOVED, ZERO]
    assert events[0].actor == "system" and events[0].occurred_at == NOW + DAY


def test_a_dry_run_counts_the_same_and_removes_nothing(client, new_lender, db_session, clock):
    _book(client, new_lender, db_session, clock)
    assert run_retention(db_session, NOW + DAY, dry_run=True) == REMOVED
    assert stored_refs(db_session) == {"C", "X", "Y"}
    assert count(db_session, BorrowerPhone) == 3 and count(db_session, AuditEvent) == 0
    assert run_retention(db_session, NOW + DAY, batch_size=1) == REMOVED  # batches of one


def test_references_naming_no_loan_go(client, new_lender, db_session):
    holder = new_lender("holder")
    report(client, holder, rec("X", TODAY))
    with transaction(db_session):
        db_session.add(
            LoanRef(lender_id=holder.id, loan_ref="gone", borrower=bytes.fromhex(B), created_at=NOW)
        )
    assert run_retention(db_session, NOW)["loan_refs"] == 1
    with transaction(db_session, write=False):
        assert set(db_session.scalars(select(LoanRef.loan_ref))) == {"X"}


# --- inquiries, application outcomes, their keys; phone sightings -------------------------


def test_inquiries_outcomes_and_keys_go_2_years_after_they_were_made(
    client, new_lender, db_session, clock
):
    asker = new_lender("asker")
    made = {
        "before": datetime(2024, 11, 24, 23, 59, 59, tzinfo=UTC),  # the day before
        "on": datetime(2024, 11, 25, 0, 0, tzinfo=UTC),  # the day, 2 years before TODAY
        "after": datetime(2024, 11, 26, 0, 0, tzinfo=UTC),  # the day after
    }
    for name, at in made.items():
        clock.set(at)
        inquiry = ask(client, asker, token(name), **{"Idempotency-Key": f"k-{name}"})
        outcome = client.post(
            f"/v1/inquiries/{inquiry['inquiry_id']}/outcome",
            json={"outcome": "declined"},
            headers=asker.headers,
        )
        assert outcome.status_code == 201, outcome.get_json()
    clock.set(NOW)
    one = {"inquiries": 1, "application_outcomes": 1, "inquiry_keys": 1}
    assert run_retention(db_session, NOW) == {**ZERO, **one}
    assert run_retention(db_session, datetime(2026, 11, 25, 23, 59, 59, tzinfo=UTC)) == ZERO
    assert run_retention(db_session, NOW + DAY) == {**ZERO, **one}
    assert count(db_session, Inquiry) == count(db_session, ApplicationOutcome) == 1
    with transaction(db_session, write=False):
        assert list(db_session.scalars(select(InquiryKey.idempotency_key))) == ["k-after"]
    # The key of a removed inquiry is free again: a new inquiry, not a replay of nothing.
    again = client.post(
        "/v1/inquiries",
        json={"borrower": token("before"), "purpose": "new_credit", "consent_ref": "c-1"},
        headers={**asker.headers, "Idempotency-Key": "k-before"},
    )
    assert again.status_code == 200 and "Idempotent-Replayed" not in again.headers


def test_phone_sightings_last_seen_over_90_days_ago_go(db_session):
    borrower, edge = bytes.fromhex(token("phones")), NOW - 90 * DAY
    with transaction(db_session):
        for phone, seen in ((b"\x01" * 32, edge), (b"\x02" * 32, edge - timedelta(seconds=1))):
            db_session.add(
                BorrowerPhone(borrower=borrower, phone=phone, first_seen_at=seen, last_seen_at=seen)
            )
            db_session.add(
                PhoneBorrower(phone=phone, borrower=borrower, first_seen_at=seen, last_seen_at=seen)
            )
    assert run_retention(db_session, NOW)["phone_sightings"] == 1
    with transaction(db_session, write=False):
        assert list(db_session.scalars(select(BorrowerPhone.phone))) == [b"\x01" * 32]
        assert list(db_session.scalars(select(PhoneBorrower.phone))) == [b"\x01" * 32]
