"""The borrower's disclosure report (issue 11) against content computed by hand: every kept
account with its lender's name and 24-month string, disputes, the statement, and every
inquiry of the last 2 years (account_review included) with its outcome (declines included);
audited. Then `registry borrowers disclose TOKEN --format json|html`. Both backends."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from registry.cli import main
from registry.db import make_session_factory, transaction
from registry.models import ApplicationOutcome, AuditEvent, Inquiry
from registry.services import audit, disputes, statements
from registry.services.disclosure import disclose, to_json
from tests.helpers import NOW, iso, loan, token

B = token("disclosure")
DESK = audit.Actor.operator("desk")


def _report(client, lender, *records):
    response = client.post("/v1/loans", json={"loans": list(records)}, headers=lender.headers)
    assert response.status_code == 200, response.get_json()
    assert not response.get_json()["rejected"], response.get_json()


def _inquiry(session, lender, at, purpose="new_credit", consent="APP", amount=None):
    """An inquiry as recorded (written directly: the report it answered plays no part)."""
    row = Inquiry(
        borrower=bytes.fromhex(B),
        id=str(uuid.uuid4()),
        lender_id=lender.id,
        purpose=purpose,
        consent_ref=consent if purpose == "new_credit" else None,
        amount_requested=amount,
        currency="CNY" if amount else None,
        flags=[],
        created_at=at,
        report={},
    )
    session.add(row)
    session.flush()
    return row


@pytest.fixture
def book(client, new_lender, engine):
    """Alpha: an open loan late 45 days in September, current since October. Beta: a loan
    closed in June 2025. Gamma: none, but an application it declined. Inquiries at each end
    of the 2-year window."""
    alpha = new_lender("alpha", "Alpha Credit")
    beta = new_lender("beta", "Beta Loans")
    gamma = new_lender("gamma", "Gamma Finance")
    _report(
        client,
        alpha,
        loan("A-1", B, opened_on="2026-03-01", as_of="2026-09-15T12:00:00Z", days_past_due=45),
        loan("A-1", B, opened_on="2026-03-01", as_of="2026-10-15T12:00:00Z", outstanding=700_000),
    )
    _report(
        client,
        beta,
        loan(
            "B-1",
            B,
            opened_on="2025-01-10",
            due_on="2025-12-31",
            status="closed",
            closed_on="2025-06-30",
            as_of="2025-06-30T12:00:00Z",
        ),
    )
    session = make_session_factory(engine)()
    try:
        with transaction(session):
            declined = _inquiry(session, gamma, NOW - timedelta(days=10), amount=300_000)
            session.add(
                ApplicationOutcome(
                    borrower=bytes.fromhex(B),
                    inquiry_id=declined.id,
                    lender_id=gamma.id,
                    outcome="declined",
                    inquired_at=declined.created_at,
                    recorded_at=NOW - timedelta(days=9),
                )
            )
            review = _inquiry(session, alpha, NOW - timedelta(days=5), purpose="account_review")
            first_day = _inquiry(session, beta, datetime(2024, 11, 25, tzinfo=UTC), consent="OLD")
            _inquiry(session, beta, datetime(2024, 11, 24, 23, 59, 59, tzinfo=UTC))  # too old
            still_open = disputes.open_by_operator(
                session,
                bytes.fromhex(B),
                "alpha",
                "A-1",
                "never 45 days late",
                "A",
                NOW - timedelta(days=1),
                DESK,
                operator_id=None,
            ).dispute
            answered = disputes.open_by_operator(
                session,
                bytes.fromhex(B),
                "beta",
                "B-1",
                "closed earlier",
                "B",
                NOW - timedelta(days=3),
                DESK,
                operator_id=None,
            ).dispute
            disputes.answer(
                session,
                beta.id,
                answered.id,
                "confirmed",
                "closing date as reported",
                NOW - timedelta(days=2),
                audit.Actor("lender:beta"),
            )
            statements.set_statement(
                session,
                bytes.fromhex(B),
                "I dispute the September arrears.",
                NOW - timedelta(hours=1),
                DESK,
            )
            ids = {
                "declined": declined.id,
                "review": review.id,
                "first_day": first_day.id,
                "open": still_open.id,
                "answered": answered.id,
            }
    finally:
        session.close()
    return ids


def test_the_disclosure_holds_what_was_computed_by_hand(book, db_session):
    with transaction(db_session):
        disclosure = disclose(db_session, bytes.fromhex(B), NOW, DESK, "  ID card,  ticket 7 ")
    document = to_json(disclosure)
    open_dispute = {
        "id": book["open"],
        "lender": "Alpha Credit",
        "lender_code": "alpha",
        "loan_ref": "A-1",
        "reason": "never 45 days late",
        "opened_at": iso(NOW - timedelta(days=1)),
        "due_at": iso(NOW + timedelta(days=19)),
        "status": "open",
        "overdue": False,
        "resolution": None,
        "note": None,
        "answered_at": None,
    }
    answered_dispute = {
        "id": book["answered"],
        "lender": "Beta Loans",
        "lender_code": "beta",
        "loan_ref": "B-1",
        "reason": "closed earlier",
        "opened_at": iso(NOW - timedelta(days=3)),
        "due_at": iso(NOW + timedelta(days=17)),
        "status": "answered",
        "overdue": False,
        "resolution": "confirmed",
        "note": "closing date as reported",
        "answered_at": iso(NOW - timedelta(days=2)),
    }
    assert document == {
        "borrower": B,
        "generated_at": iso(NOW),
        "reference": "ID card, ticket 7",
        "statement": "I dispute the September arrears.",
        "statement_set_at": iso(NOW - timedelta(hours=1)),
        "status_24m_from": "2024-12",
        "status_24m_to": "2026-11",
        "tradelines": [
            {
                "lender": "Alpha Credit",
                "lender_code": "alpha",
                "loan_ref": "A-1",
                "product": "cash_loan",
                "currency": "CNY",
                "credit_limit": 1_000_000,
                "outstanding": 700_000,
                "amount_past_due": 0,
                "days_past_due": 0,
                "status": "open",
                "special_event": None,
                "opened_on": "2026-03-01",
                "closed_on": None,
                "last_reported_on": "2026-10-15",
                # 2024-12 ... 2026-08 no report, 2026-09 31-60 days late, 2026-10 current.
                "status_24m": "N" * 21 + "20N",
                "disputed": True,
                "disputes": [book["open"]],
            },
            {
                "lender": "Beta Loans",
                "lender_code": "beta",
                "loan_ref": "B-1",
                "product": "cash_loan",
                "currency": "CNY",
                "credit_limit": 1_000_000,
                "outstanding": 0,
                "amount_past_due": 0,
                "days_past_due": 0,
                "status": "closed",
                "special_event": None,
                "opened_on": "2025-01-10",
                "closed_on": "2025-06-30",
                "last_reported_on": "2025-06-30",
                "status_24m": "N" * 6 + "C" + "N" * 17,  # closed in June 2025
                "disputed": False,
                "disputes": [book["answered"]],
            },
        ],
        "disputes": [open_dispute, answered_dispute],
        "inquiries_since": "2024-11-25T00:00:00Z",
        "inquiries": [
            {
                "id": book["review"],
                "created_at": iso(NOW - timedelta(days=5)),
                "lender": "Alpha Credit",
                "lender_code": "alpha",
                "purpose": "account_review",
                "consent_ref": None,
                "amount_requested": None,
                "currency": None,
                "outcome": None,
                "outcome_recorded_at": None,
            },
            {
                "id": book["declined"],
                "created_at": iso(NOW - timedelta(days=10)),
                "lender": "Gamma Finance",
                "lender_code": "gamma",
                "purpose": "new_credit",
                "consent_ref": "APP",
                "amount_requested": 300_000,
                "currency": "CNY",
                "outcome": "declined",
                "outcome_recorded_at": iso(NOW - timedelta(days=9)),
            },
            {
                "id": book["first_day"],
                "created_at": "2024-11-25T00:00:00Z",
                "lender": "Beta Loans",
                "lender_code": "beta",
                "purpose": "new_credit",
                "consent_ref": "OLD",
                "amount_requested": None,
                "currency": None,
                "outcome": None,
                "outcome_recorded_at": None,
            },
        ],
    }
    [event] = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "disclosure"))
    assert event.actor == "operator:desk" and event.target == B
    assert event.details == {
        "reference": "ID card, ticket 7",
        "tradelines": 2,
        "inquiries": 3,
        "disputes": 2,
    }


def test_a_day_later_the_oldest_inquiry_is_gone_and_the_dispute_is_overdue_later(book, db_session):
    with transaction(db_session):
        later = to_json(disclose(db_session, bytes.fromhex(B), NOW + timedelta(days=1), DESK))
    assert book["first_day"] not in [row["id"] for row in later["inquiries"]]
    assert later["inquiries_since"] == "2024-11-26T00:00:00Z"
    with transaction(db_session):
        overdue = to_json(disclose(db_session, bytes.fromhex(B), NOW + timedelta(days=20), DESK))
    [first, _second] = overdue["disputes"]
    assert first["id"] == book["open"] and first["overdue"] is True


def test_a_reference_too_long_is_refused_and_nothing_audited(book, db_session):
    from registry.services.errors import InvalidInput

    with pytest.raises(InvalidInput) as refused, transaction(db_session):
        disclose(db_session, bytes.fromhex(B), NOW, DESK, "x" * 201)
    assert refused.value.errors[0].field == "reference"
    assert (
        list(db_session.scalars(select(AuditEvent).where(AuditEvent.action == "disclosure"))) == []
    )


@pytest.mark.committed
def test_the_cli_discloses_as_json_and_html(client, new_lender, database_url, monkeypatch, engine):
    monkeypatch.setenv("REGISTRY_DATABASE_URL", database_url)
    monkeypatch.delenv("REGISTRY_ENV", raising=False)
    alpha = new_lender("alpha", "Alpha Credit")
    _report(client, alpha, loan("A-9", B, opened_on="2026-01-05"))  # as of the frozen NOW
    runner = CliRunner()
    as_json = runner.invoke(main, ["borrowers", "disclose", B, "--format", "json"])
    assert as_json.exit_code == 0, as_json.output
    document = json.loads(as_json.output)
    assert [(t["lender"], t["loan_ref"]) for t in document["tradelines"]] == [
        ("Alpha Credit", "A-9")
    ]
    as_html = runner.invoke(main, ["borrowers", "disclose", B, "--format", "html"])
    assert as_html.exit_code == 0, as_html.output
    assert as_html.output.startswith("<!doctype html>")
    assert "Alpha Credit" in as_html.output and "A-9" in as_html.output
    assert "@media print" in as_html.output and "征信业管理条例" in as_html.output
    bad = runner.invoke(main, ["borrowers", "disclose", "not-a-token"])
    assert bad.exit_code == 2
    assert "nothing on file" not in as_json.stderr
    nobody = runner.invoke(main, ["borrowers", "disclose", token("nobody"), "--format", "json"])
    assert nobody.exit_code == 0 and json.loads(nobody.stdout)["tradelines"] == []
    assert "nothing on file for this token" in nobody.stderr
    session = make_session_factory(engine)()
    try:
        events = list(session.scalars(select(AuditEvent).where(AuditEvent.action == "disclosure")))
    finally:
        session.close()
    assert [(e.actor, e.target) for e in events] == [
        ("cli", B),
        ("cli", B),
        ("cli", token("nobody")),
    ]


@pytest.mark.committed
def test_the_cli_attaches_shows_and_removes_a_statement(database_url, monkeypatch, engine):
    monkeypatch.setenv("REGISTRY_DATABASE_URL", database_url)
    monkeypatch.delenv("REGISTRY_ENV", raising=False)
    runner = CliRunner()
    assert "(no statement)" in runner.invoke(main, ["borrowers", "statement", B]).output
    too_long = runner.invoke(main, ["borrowers", "statement", B, "--set", "x" * 201])
    assert too_long.exit_code == 1 and "statement" in too_long.output
    assert runner.invoke(main, ["borrowers", "statement", B, "--set", "my words"]).exit_code == 0
    assert runner.invoke(main, ["borrowers", "statement", B]).output.strip() == "my words"
    assert runner.invoke(main, ["borrowers", "statement", B, "--remove"]).exit_code == 0
    assert "(no statement)" in runner.invoke(main, ["borrowers", "statement", B]).output
    session = make_session_factory(engine)()
    try:
        actions = [
            e.action
            for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))
            if e.action.startswith("statement")
        ]
    finally:
        session.close()
    assert actions == ["statement_set", "statement_removed"]


def test_a_loan_brought_current_goes_from_the_disclosure_when_the_run_removes_it(
    client, new_lender, db_session
):
    """Past due, brought current on 2021-11-25, closed 2025-06-30: kept 5 years from being
    brought current (through NOW's day), which only its history tells."""
    from tests.api.test_retention import STORIES, report

    borrower = STORIES["brought_current"][0]["borrower"]
    report(client, new_lender("holder"), *STORIES["brought_current"])
    with transaction(db_session):
        kept = to_json(disclose(db_session, bytes.fromhex(borrower), NOW, DESK))
        gone = to_json(disclose(db_session, bytes.fromhex(borrower), NOW + timedelta(days=1), DESK))
    assert [line["loan_ref"] for line in kept["tradelines"]] == ["C"]
    assert gone["tradelines"] == []
