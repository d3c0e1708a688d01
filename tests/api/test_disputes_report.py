"""Disputes and statements in the report (issue 11): an open dispute marks its tradeline
`disputed` and counts in `disputed_tradelines`; past its deadline unanswered, the tradeline
counts towards no flag (policy `overdue_disputes_ignored`), the day before, the day and the
day after; the borrower's statement is in every report. Frozen clock, both backends."""

from __future__ import annotations

from datetime import timedelta

import pytest

from registry.db import transaction
from registry.services import audit, policy, statements
from tests.helpers import NOW, loan, token

B = token("disputed-in-reports")


def _report(client, lender, *records):
    response = client.post("/v1/loans", json={"loans": list(records)}, headers=lender.headers)
    assert response.status_code == 200 and not response.get_json()["rejected"]


def _inquire(client, lender, **extra):
    body = {"borrower": B, "purpose": "new_credit", "consent_ref": "APP-1"}
    response = client.post("/v1/inquiries", json=body, headers=lender.headers | extra)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _codes(report):
    return [flag["code"] for flag in report["flags"]]


@pytest.fixture
def disputed(client, new_lender):
    """`late`'s loan is 45 days past due (PAST_DUE_ELSEWHERE for anyone else) and `fine`'s is
    current; `asker` disputes the late one at NOW."""
    late, fine, asker = new_lender("late"), new_lender("fine"), new_lender("asker")
    _report(client, late, loan("L-1", B, opened_on="2026-04-01", days_past_due=45))
    _report(client, fine, loan("F-1", B, opened_on="2026-05-01"))
    first = _inquire(client, asker)
    assert "PAST_DUE_ELSEWHERE" in _codes(first)
    assert [(t["lender"], t["disputed"]) for t in first["tradelines"]] == [
        ("A", False),
        ("B", False),
    ]
    assert first["summary"]["disputed_tradelines"] == 0
    body = {"inquiry_id": first["inquiry_id"], "tradeline": "A", "reason": "never that late"}
    opened = client.post("/v1/disputes", json=body, headers=asker.headers)
    assert opened.status_code == 201
    return late, fine, asker, opened.get_json()["id"]


def test_an_open_dispute_marks_its_tradeline_in_every_report(client, disputed):
    late, fine, asker, _dispute_id = disputed
    for lender in (asker, fine, late):  # the owner's own report too
        report = _inquire(client, lender)
        marked = {(t["lender"], t["disputed"]) for t in report["tradelines"]}
        assert marked == {("A", True), ("B", False)}
        assert report["summary"]["disputed_tradelines"] == 1


@pytest.mark.parametrize(
    ("days", "counted"),
    [
        (19, True),  # the day before the deadline
        (20, True),  # the deadline itself: within time
        (21, False),  # the day after: past it unanswered
    ],
)
def test_past_the_deadline_the_tradeline_counts_towards_no_flag(
    client, disputed, clock, days, counted
):
    _late, _fine, asker, _dispute_id = disputed
    clock.set(NOW + timedelta(days=days))
    report = _inquire(client, asker)
    assert ("PAST_DUE_ELSEWHERE" in _codes(report)) is counted
    # The record is still shown, disputed, and the report's figures still hold it.
    [line] = [t for t in report["tradelines"] if t["lender"] == "A"]
    assert line["disputed"] is True and line["days_past_due"] == 45
    assert report["summary"]["max_days_past_due"] == 45
    assert report["summary"]["open_loans"] == 2


def test_the_policy_switch_keeps_an_overdue_record_counting(client, disputed, clock, db_session):
    _late, _fine, asker, _dispute_id = disputed
    with transaction(db_session):
        policy.set_threshold(db_session, "overdue_disputes_ignored", 0, NOW, actor=audit.CLI)
    clock.set(NOW + timedelta(days=30))
    assert "PAST_DUE_ELSEWHERE" in _codes(_inquire(client, asker))


def test_only_the_flags_of_the_overdue_tradeline_go(client, new_lender, clock, db_session):
    """Three lenders with balances (MULTI_LENDER at 3): one overdue dispute leaves two."""
    lenders = [new_lender(f"holder{n}") for n in range(3)]
    asker = new_lender("asker")
    for n, lender in enumerate(lenders):
        _report(client, lender, loan(f"H-{n}", B, opened_on=f"2026-0{n + 1}-01"))
    first = _inquire(client, asker)
    assert "MULTI_LENDER" in _codes(first)
    body = {"inquiry_id": first["inquiry_id"], "tradeline": "B", "reason": "not mine"}
    assert client.post("/v1/disputes", json=body, headers=asker.headers).status_code == 201
    clock.set(NOW + timedelta(days=21))
    later = _inquire(client, asker)
    assert "MULTI_LENDER" not in _codes(later)
    assert later["summary"]["lenders_with_open_loans"] == 3  # the figure still shows it


def test_an_answer_ends_the_mark_and_the_record_counts_again(client, disputed, clock):
    late, _fine, asker, dispute_id = disputed
    clock.set(NOW + timedelta(days=25))
    assert "PAST_DUE_ELSEWHERE" not in _codes(_inquire(client, asker))
    answer = {"resolution": "confirmed", "note": "45 days late, as reported"}
    answered = client.post(f"/v1/disputes/{dispute_id}/answer", json=answer, headers=late.headers)
    assert answered.status_code == 200
    report = _inquire(client, asker)
    assert "PAST_DUE_ELSEWHERE" in _codes(report)
    assert not any(t["disputed"] for t in report["tradelines"])
    assert report["summary"]["disputed_tradelines"] == 0


def test_the_statement_is_in_every_report_until_removed(client, new_lender, db_session):
    holder, asker = new_lender("holder"), new_lender("asker")
    _report(client, holder, loan("H-1", B))
    assert _inquire(client, asker)["statement"] is None
    borrower = bytes.fromhex(B)
    with transaction(db_session):
        statements.set_statement(
            db_session, borrower, "I was a fraud victim in 2025.", NOW, audit.CLI
        )
    keyed = {"Idempotency-Key": "with-statement"}
    first = _inquire(client, asker, **keyed)
    assert first["statement"] == "I was a fraud victim in 2025."
    assert _inquire(client, holder)["statement"] == "I was a fraud victim in 2025."
    with transaction(db_session):
        statements.remove_statement(db_session, borrower, NOW, audit.CLI)
    assert _inquire(client, asker)["statement"] is None
    # A replay answers the report as it was given, statement included.
    assert _inquire(client, asker, **keyed) == first
