"""Give to get on both backends with the clock frozen: a lender may make new_credit inquiries
only with a loan on file and an accepted upload within reciprocity_days, or while exempt;
refusals are 403 /problems/reciprocity saying what to do, and record nothing."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select

from registry.db import transaction
from registry.models import AuditEvent, Inquiry, Lender
from registry.services import audit, reciprocity
from registry.services.policy import set_threshold
from tests.helpers import NOW, iso, loan, token

DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)


def inquire(client: Any, lender: Any, purpose: str = "new_credit") -> Any:
    body = {"borrower": token(1), "purpose": purpose, "consent_ref": "c-1"}
    return client.post("/v1/inquiries", json=body, headers=lender.headers)


def upload(client: Any, lender: Any, *records: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/v1/loans", json={"loans": list(records)}, headers=lender.headers)
    assert response.status_code == 200
    answer: dict[str, Any] = response.get_json()
    return answer


def assert_refused(response: Any, *words: str) -> None:
    assert response.status_code == 403
    assert response.content_type == "application/problem+json"
    problem = response.get_json()
    assert problem["type"] == "/problems/reciprocity"
    assert problem["title"] == "Give to get: report your loans first"
    for word in ("POST /v1/loans", *words):
        assert word in problem["detail"], problem["detail"]


def inquiries(db_session: Any) -> int:
    with transaction(db_session, write=False):
        return int(db_session.scalar(select(func.count()).select_from(Inquiry)))


def exempt(db_session: Any, code: str, until: Any, now: Any = NOW) -> bool:
    with transaction(db_session):
        lender = db_session.scalar(select(Lender).where(Lender.code == code))
        return reciprocity.set_exemption(db_session, lender, until, now, actor=audit.CLI)


def test_a_lender_without_loans_is_refused_and_nothing_is_recorded(client, new_lender, db_session):
    member = new_lender("member", exempt=False)
    assert_refused(inquire(client, member), "member has no loans on file", "exemption")
    assert inquiries(db_session) == 0
    # An upload whose every record was rejected is no report.
    answer = upload(client, member, loan("L-1", 1, status="nonsense"))
    assert answer["rejected"] and not answer["accepted"]
    assert_refused(inquire(client, member), "no loans on file")


def test_a_lender_that_reports_may_inquire(client, new_lender, db_session):
    member = new_lender("member", exempt=False)
    upload(client, member, loan("L-1", 2))
    assert inquire(client, member).status_code == 200
    assert inquiries(db_session) == 1


@pytest.mark.parametrize("age, allowed", [(35 * DAY - SECOND, True), (35 * DAY, True)])
def test_the_last_report_within_reciprocity_days_counts(client, new_lender, clock, age, allowed):
    member = new_lender("member", exempt=False)
    upload(client, member, loan("L-1", 2))
    clock.set(NOW + age)
    assert (inquire(client, member).status_code == 200) is allowed


def test_a_report_older_than_reciprocity_days_is_refused_at_the_boundary(
    client, new_lender, clock, db_session
):
    member = new_lender("member", exempt=False)
    upload(client, member, loan("L-1", 2))
    clock.set(NOW + 35 * DAY + SECOND)
    assert_refused(inquire(client, member), "last reported on 2026-11-25", "35 days")
    # A report of the loan's current state (unchanged: still a report) restores it.
    upload(client, member, loan("L-1", 2, as_of=iso(NOW + 35 * DAY)))
    assert inquire(client, member).status_code == 200
    # reciprocity_days is the policy's: 6 days after that report, 5 are too few, 7 enough.
    clock.set(NOW + 41 * DAY + SECOND)
    with transaction(db_session):
        set_threshold(db_session, "reciprocity_days", 5, NOW)
    assert_refused(inquire(client, member), "more than 5 days ago")
    with transaction(db_session):
        set_threshold(db_session, "reciprocity_days", 7, NOW)
    assert inquire(client, member).status_code == 200


def test_account_reviews_are_not_concerned(client, new_lender, clock):
    member = new_lender("member", exempt=False)
    upload(client, member, loan("L-1", 1))
    clock.set(NOW + 60 * DAY)
    assert inquire(client, member).status_code == 403
    assert inquire(client, member, "account_review").status_code == 200


def test_an_exemption_holds_until_its_end(client, new_lender, clock, db_session):
    member = new_lender("member", exempt=False)
    until = NOW + 10 * DAY
    assert exempt(db_session, "member", until)
    assert inquire(client, member).status_code == 200
    clock.set(until - SECOND)
    assert inquire(client, member).status_code == 200
    clock.set(until)
    assert_refused(inquire(client, member), "no loans on file")
    with transaction(db_session, write=False):
        (event_row,) = db_session.scalars(
            select(AuditEvent).where(AuditEvent.action == "lender_exempted")
        )
    assert event_row.target == "member" and event_row.details["until"] == until.isoformat()


def test_an_exemption_can_be_ended_now_or_by_a_date_past(client, new_lender, db_session):
    member = new_lender("member", exempt=False)
    exempt(db_session, "member", NOW + 30 * DAY)
    assert exempt(db_session, "member", None)  # ended now
    assert inquire(client, member).status_code == 403
    assert not exempt(db_session, "member", None)  # nothing left to end: no event
    assert not exempt(db_session, "member", NOW - DAY)  # nor by a date past
    exempt(db_session, "member", NOW + 30 * DAY)
    assert exempt(db_session, "member", NOW)  # a date past (now is past): ended
    assert inquire(client, member).status_code == 403
    with transaction(db_session, write=False):
        actions = list(
            db_session.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.target == "member")
                .order_by(AuditEvent.id)
            )
        )
    assert actions == ["lender_exempted", "lender_exemption_ended"] * 2


def test_the_check_is_one_statement_and_none_for_an_exempt_lender(client, new_lender, engine):
    member, exempted = new_lender("member", exempt=False), new_lender("onboarding")
    upload(client, member, loan("L-1", 2))
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    def statements_of(lender: Any) -> list[str]:
        statements.clear()
        event.listen(engine, "before_cursor_execute", record)
        try:
            assert inquire(client, lender).status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", record)
        return [s for s in statements if "submissions" in s]

    assert len(statements_of(member)) == 1  # the standing: setting, last upload, loans
    assert statements_of(exempted) == []


def test_the_standing_costs_well_under_a_millisecond(client, new_lender, db_session):
    """Measured: the one statement on the inquiry's hot path (in-process, either backend)."""
    member = new_lender("member", exempt=False)
    upload(client, member, *(loan(f"L-{n}", n) for n in range(50)))
    with transaction(db_session, write=False):
        lender = db_session.scalar(select(Lender).where(Lender.code == "member"))
        reciprocity.standing(db_session, lender, NOW)  # warm
        runs = 200
        started = time.perf_counter()
        for _ in range(runs):
            assert reciprocity.standing(db_session, lender, NOW).allowed
        per_check = (time.perf_counter() - started) / runs
    assert per_check < 0.005, per_check  # measured ~0.1-0.3 ms; generous for a busy machine


def test_the_console_figures(client, new_lender, db_session, clock):
    member = new_lender("member", exempt=False)
    upload(client, member, loan("L-1", 1), loan("L-2", 2), loan("L-3", 3), loan("L-4", 4))
    for _ in range(3):
        assert inquire(client, member).status_code == 200
    clock.set(NOW + 40 * DAY)
    with transaction(db_session, write=False):
        lender = db_session.scalar(select(Lender).where(Lender.code == "member"))
        later = reciprocity.lender_reciprocity(db_session, lender, NOW + 40 * DAY)
        now = reciprocity.lender_reciprocity(db_session, lender, NOW)
    assert (now.new_credit_inquiries, now.loans_on_file, now.inquiries_per_loan) == (3, 4, 0.75)
    assert now.standing.allowed and not now.standing.exempt
    assert later.new_credit_inquiries == 0 and not later.standing.allowed
