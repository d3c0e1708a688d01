"""Disputes through the lender API (issue 11): a lender relays a borrower's dispute of a
tradeline of its own recent report; the owning lender lists and answers it within
`dispute_days`; nobody else sees it; every step audited. Frozen clock, both backends."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from registry.db import make_session_factory
from registry.models import AuditEvent
from registry.services import disputes
from tests.helpers import NOW, iso, loan, token

B = token("disputed-borrower")


def _report(client, lender, *records):
    response = client.post("/v1/loans", json={"loans": list(records)}, headers=lender.headers)
    assert response.status_code == 200, response.get_json()
    assert not response.get_json()["rejected"], response.get_json()


def _inquire(client, lender, borrower=B):
    body = {"borrower": borrower, "purpose": "new_credit", "consent_ref": "APP-1"}
    response = client.post("/v1/inquiries", json=body, headers=lender.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _open(client, lender, inquiry_id, tradeline="A", reason="never borrowed from them"):
    body = {"inquiry_id": inquiry_id, "tradeline": tradeline, "reason": reason}
    return client.post("/v1/disputes", json=body, headers=lender.headers)


def _answer(client, lender, dispute_id, resolution, note=None):
    body = {"resolution": resolution} | ({"note": note} if note is not None else {})
    return client.post(f"/v1/disputes/{dispute_id}/answer", json=body, headers=lender.headers)


def _errors(response):
    return {e["field"]: e["message"] for e in response.get_json().get("errors", [])}


@pytest.fixture
def book(client, new_lender):
    """Lender `owner` holds loan O-1 of the borrower (late 45 days); `asker` inquires and
    sees it as tradeline A; `other` is a third member."""
    owner, asker, other = new_lender("owner"), new_lender("asker"), new_lender("other")
    _report(client, owner, loan("O-1", B, opened_on="2026-06-01", days_past_due=45))
    report = _inquire(client, asker)
    [line] = report["tradelines"]
    assert line["lender"] == "A" and not line["own"]
    return owner, asker, other, report["inquiry_id"]


def _audit(engine, action):
    session = make_session_factory(engine)()
    try:
        return list(
            session.scalars(
                select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
            )
        )
    finally:
        session.close()


def test_a_dispute_from_opening_to_answer(client, book, engine):
    owner, asker, _other, inquiry_id = book
    opened = _open(client, asker, inquiry_id)
    assert opened.status_code == 201, opened.get_json()
    body = opened.get_json()
    # The opener learns the dispute, its label and deadline, never whose record it is.
    assert "loan_ref" not in body and "borrower" not in body and "note" not in body
    assert body["tradeline"] == "A" and body["status"] == "open" and not body["overdue"]
    assert body["opened_at"] == iso(NOW)
    assert body["due_at"] == iso(NOW + timedelta(days=20))
    dispute_id = body["id"]

    # A retry (the same reason) gets the same dispute back; another reason is a conflict.
    again = _open(client, asker, inquiry_id)
    assert again.status_code == 200 and again.get_json()["id"] == dispute_id
    assert again.headers["Idempotent-Replayed"] == "true"
    other_reason = _open(client, asker, inquiry_id, reason="the amount is wrong")
    assert other_reason.status_code == 409
    assert other_reason.get_json()["type"] == "/problems/dispute-conflict"

    listed = client.get("/v1/disputes?status=open", headers=owner.headers)
    assert listed.status_code == 200
    [item] = listed.get_json()["data"]
    assert item == {
        "id": dispute_id,
        "borrower": B,
        "loan_ref": "O-1",
        "reason": "never borrowed from them",
        "opened_via": "lender",
        "opened_at": iso(NOW),
        "due_at": iso(NOW + timedelta(days=20)),
        "status": "open",
        "overdue": False,
        "resolution": None,
        "note": None,
        "answered_at": None,
    }
    assert client.get("/v1/disputes?status=answered", headers=owner.headers).get_json() == {
        "data": []
    }

    answered = _answer(client, owner, dispute_id, "confirmed", "signed contract on file")
    assert answered.status_code == 200, answered.get_json()
    assert answered.get_json()["status"] == "answered"
    assert answered.get_json()["resolution"] == "confirmed"
    assert answered.get_json()["note"] == "signed contract on file"
    twice = _answer(client, owner, dispute_id, "confirmed")
    assert twice.status_code == 409
    assert client.get("/v1/disputes?status=open", headers=owner.headers).get_json()["data"] == []
    [done] = client.get("/v1/disputes?status=answered", headers=owner.headers).get_json()["data"]
    assert done["id"] == dispute_id and done["answered_at"] == iso(NOW)

    # The opener sees the outcome (without the owner's note or reference).
    seen = client.get(f"/v1/disputes/{dispute_id}", headers=asker.headers).get_json()
    assert seen["status"] == "answered" and seen["resolution"] == "confirmed"
    assert "loan_ref" not in seen and "note" not in seen

    [opened_event] = _audit(engine, "dispute_opened")
    assert opened_event.actor == "lender:asker" and opened_event.target == f"dispute:{dispute_id}"
    assert opened_event.details["lender"] == "owner"
    assert opened_event.details["loan_ref"] == "O-1"
    assert opened_event.details["borrower"] == B
    [answered_event] = _audit(engine, "dispute_answered")
    assert answered_event.actor == "lender:owner"
    assert answered_event.details["resolution"] == "confirmed"
    assert answered_event.details["late"] is False


def test_only_the_owning_lender_answers_and_nobody_else_sees_it(client, book):
    owner, asker, other, inquiry_id = book
    dispute_id = _open(client, asker, inquiry_id).get_json()["id"]
    assert client.get("/v1/disputes", headers=other.headers).get_json() == {"data": []}
    assert client.get("/v1/disputes", headers=asker.headers).get_json() == {"data": []}
    assert client.get(f"/v1/disputes/{dispute_id}", headers=other.headers).status_code == 404
    assert _answer(client, other, dispute_id, "confirmed").status_code == 404
    assert _answer(client, asker, dispute_id, "confirmed").status_code == 404
    assert _answer(client, owner, "no-such-dispute", "confirmed").status_code == 404
    unauthenticated = client.post(f"/v1/disputes/{dispute_id}/answer", json={"resolution": "x"})
    assert unauthenticated.status_code == 401
    # Still open: none of those answered it.
    [item] = client.get("/v1/disputes", headers=owner.headers).get_json()["data"]
    assert item["status"] == "open"


def test_the_inquiry_must_be_the_callers_own_and_recent(client, book, clock):
    _owner, asker, other, inquiry_id = book
    unknown = _open(client, asker, "00000000-0000-0000-0000-000000000000")
    assert unknown.status_code == 422 and "inquiry_id" in _errors(unknown)
    someone_elses = _open(client, other, inquiry_id)
    assert someone_elses.status_code == 422 and "inquiry_id" in _errors(someone_elses)
    # 90 days after the inquiry it still counts; a second later it does not.
    clock.set(NOW + timedelta(days=disputes.INQUIRY_WINDOW_DAYS, seconds=1))
    too_old = _open(client, asker, inquiry_id)
    assert too_old.status_code == 422 and "inquiry_id" in _errors(too_old)
    clock.set(NOW + timedelta(days=disputes.INQUIRY_WINDOW_DAYS))
    assert _open(client, asker, inquiry_id).status_code == 201


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"inquiry_id": "x", "tradeline": "A"}, "reason"),
        ({"inquiry_id": "x", "tradeline": "A", "reason": ""}, "reason"),
        ({"inquiry_id": "x", "reason": "r"}, "tradeline"),
        ({"tradeline": "A", "reason": "r"}, "inquiry_id"),
        ({"inquiry_id": "x", "tradeline": "A", "reason": "r", "extra": 1}, "extra"),
        ({"inquiry_id": "x", "tradeline": "A", "reason": "x" * 501}, "reason"),
    ],
)
def test_a_malformed_dispute_names_the_field(client, new_lender, body, field):
    lender = new_lender()
    response = client.post("/v1/disputes", json=body, headers=lender.headers)
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert field in _errors(response)


def test_the_tradeline_must_be_one_of_that_report(client, book):
    _owner, asker, _other, inquiry_id = book
    for label in ("B", "a", "A/2", "A/0", "AB/x", "1"):
        response = _open(client, asker, inquiry_id, tradeline=label)
        assert response.status_code == 422, label
        assert "tradeline" in _errors(response), label


def test_a_label_with_several_tradelines_is_named_with_its_position(client, new_lender):
    owner, asker = new_lender("owner"), new_lender("asker")
    _report(
        client,
        owner,
        loan("O-1", B, opened_on="2026-03-01"),
        loan("O-2", B, opened_on="2026-05-01", product="credit_line", principal=500_000),
    )
    report = _inquire(client, asker)
    assert [t["lender"] for t in report["tradelines"]] == ["A", "A"]
    ambiguous = _open(client, asker, report["inquiry_id"], tradeline="A")
    assert ambiguous.status_code == 422
    assert "A/1" in _errors(ambiguous)["tradeline"]
    second = _open(client, asker, report["inquiry_id"], tradeline="A/2")
    assert second.status_code == 201
    [item] = client.get("/v1/disputes", headers=owner.headers).get_json()["data"]
    assert item["loan_ref"] == "O-2"  # the report's second tradeline under A


def test_labels_are_placed_across_lenders(client, new_lender):
    """Three lenders: the asker's own loan and two others; B is the one opened second."""
    first, second, asker = new_lender("first"), new_lender("second"), new_lender("asker")
    _report(client, first, loan("F-1", B, opened_on="2026-01-10"))
    _report(client, second, loan("S-1", B, opened_on="2026-02-10"))
    _report(client, asker, loan("K-1", B, opened_on="2026-03-10"))
    report = _inquire(client, asker)
    labels = {(t["lender"], t["own"], t["opened_month"]) for t in report["tradelines"]}
    assert labels == {("A", False, "2026-01"), ("B", False, "2026-02"), ("C", True, "2026-03")}
    # A later loan of a fourth lender, opened earlier, does not shift the old report's labels.
    late = new_lender("late")
    _report(client, late, loan("L-1", B, opened_on="2025-12-01"))
    assert _open(client, asker, report["inquiry_id"], tradeline="B").status_code == 201
    [item] = client.get("/v1/disputes", headers=second.headers).get_json()["data"]
    assert item["loan_ref"] == "S-1"
    assert client.get("/v1/disputes", headers=first.headers).get_json()["data"] == []
    # Its own tradeline too: the asker then answers it itself.
    assert _open(client, asker, report["inquiry_id"], tradeline="C").status_code == 201
    [own] = client.get("/v1/disputes", headers=asker.headers).get_json()["data"]
    assert own["loan_ref"] == "K-1"


def test_corrected_needs_a_correction_since_the_dispute_opened(client, book, clock):
    owner, asker, _other, inquiry_id = book
    dispute_id = _open(client, asker, inquiry_id).get_json()["id"]
    refused = _answer(client, owner, dispute_id, "corrected")
    assert refused.status_code == 422 and "resolution" in _errors(refused)
    # A newer report is the loan's next state, not a correction of the contested one.
    clock.advance(timedelta(days=1))
    as_of = iso(NOW + timedelta(hours=1))
    _report(client, owner, loan("O-1", B, opened_on="2026-06-01", days_past_due=0, as_of=as_of))
    assert _answer(client, owner, dispute_id, "corrected").status_code == 422
    fix = loan("O-1", B, opened_on="2026-06-01", days_past_due=15, correction=True)
    _report(client, owner, fix)
    answered = _answer(client, owner, dispute_id, "corrected", "was 15 days, not 45")
    assert answered.status_code == 200, answered.get_json()
    assert answered.get_json()["resolution"] == "corrected"


def test_retracted_needs_a_retraction_since_the_dispute_opened(client, book, clock):
    owner, asker, _other, inquiry_id = book
    dispute_id = _open(client, asker, inquiry_id).get_json()["id"]
    refused = _answer(client, owner, dispute_id, "retracted")
    assert refused.status_code == 422 and "resolution" in _errors(refused)
    clock.advance(timedelta(hours=2))
    gone = client.delete("/v1/loans/O-1", json={"reason": "wrong_borrower"}, headers=owner.headers)
    assert gone.status_code == 200
    answered = _answer(client, owner, dispute_id, "retracted")
    assert answered.status_code == 200 and answered.get_json()["resolution"] == "retracted"


def test_a_retraction_before_the_dispute_does_not_count(client, new_lender, clock):
    owner, asker = new_lender("owner"), new_lender("asker")
    # O-1 was retracted, then reported anew for the same borrower, before the dispute.
    _report(client, owner, loan("O-1", B))
    retracted = client.delete("/v1/loans/O-1", json={"reason": "duplicate"}, headers=owner.headers)
    assert retracted.status_code == 200
    clock.advance(timedelta(minutes=1))
    _report(client, owner, loan("O-1", B, as_of=iso(NOW + timedelta(minutes=1))))
    report = _inquire(client, asker)
    clock.advance(timedelta(minutes=5))
    dispute_id = _open(client, asker, report["inquiry_id"]).get_json()["id"]
    refused = _answer(client, owner, dispute_id, "retracted")
    assert refused.status_code == 422 and "resolution" in _errors(refused)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "resolution"),
        ({"resolution": "deleted"}, "resolution"),
        ({"resolution": "confirmed", "note": "x" * 501}, "note"),
        ({"resolution": "confirmed", "note": 5}, "note"),
    ],
)
def test_a_malformed_answer_names_the_field(client, book, body, field):
    owner, asker, _other, inquiry_id = book
    dispute_id = _open(client, asker, inquiry_id).get_json()["id"]
    response = client.post(f"/v1/disputes/{dispute_id}/answer", json=body, headers=owner.headers)
    assert response.status_code == 422
    assert field in _errors(response)


def test_a_bad_status_filter_names_the_field(client, new_lender):
    lender = new_lender()
    response = client.get("/v1/disputes?status=closed", headers=lender.headers)
    assert response.status_code == 422 and "status" in _errors(response)


@pytest.mark.parametrize(
    ("offset", "overdue"),
    [
        (timedelta(days=19), False),  # the day before the deadline
        (timedelta(days=20), False),  # the deadline itself: still within time
        (timedelta(days=21), True),  # the day after
    ],
)
def test_the_deadline_boundary(client, book, clock, db_session, offset, overdue):
    owner, asker, _other, inquiry_id = book
    dispute_id = _open(client, asker, inquiry_id).get_json()["id"]
    clock.set(NOW + offset)
    [item] = client.get("/v1/disputes?status=open", headers=owner.headers).get_json()["data"]
    assert item["overdue"] is overdue
    listed = client.get("/v1/disputes?status=overdue", headers=owner.headers).get_json()["data"]
    assert [d["id"] for d in listed] == ([dispute_id] if overdue else [])
    assert disputes.overdue_disputes(db_session, owner.id, NOW + offset) == int(overdue)
    # A late answer is still an answer, and recorded as late.
    answered = _answer(client, owner, dispute_id, "confirmed")
    assert answered.status_code == 200 and not answered.get_json()["overdue"]
    assert disputes.overdue_disputes(db_session, owner.id, NOW + offset) == 0


def test_dispute_days_comes_from_the_policy_at_opening(client, book, db_session):
    from registry.db import transaction
    from registry.services import audit, policy

    _owner, asker, _other, inquiry_id = book
    with transaction(db_session):
        policy.set_threshold(db_session, "dispute_days", 5, NOW, actor=audit.CLI)
    body = _open(client, asker, inquiry_id).get_json()
    assert body["due_at"] == iso(NOW + timedelta(days=5))


def test_a_provisional_loan_is_no_record_to_dispute(client, new_lender):
    owner, approver, asker = new_lender("owner"), new_lender("approver"), new_lender("asker")
    _report(client, owner, loan("O-1", B, opened_on="2026-06-01"))
    _report(client, approver, loan("X-1", token("someone else")))  # a member that reports
    application = _inquire(client, approver)
    approved = client.post(
        f"/v1/inquiries/{application['inquiry_id']}/outcome",
        json={"outcome": "approved", "loan_ref": "P-1", "amount": 300_000, "currency": "CNY"},
        headers=approver.headers,
    )
    assert approved.status_code == 201, approved.get_json()
    report = _inquire(client, asker)
    assert [(t["lender"], t["status"]) for t in report["tradelines"]] == [
        ("A", "open"),
        ("B", "provisional"),
    ]
    refused = _open(client, asker, report["inquiry_id"], tradeline="B")
    assert refused.status_code == 422 and "provisional" in _errors(refused)["tradeline"]
    # The approved loan reported since replaces the provisional one; A is still the owner's.
    _report(client, approver, loan("P-1", B, opened_on=NOW.date().isoformat()))
    assert _open(client, asker, report["inquiry_id"], tradeline="A").status_code == 201
    [item] = client.get("/v1/disputes", headers=owner.headers).get_json()["data"]
    assert item["loan_ref"] == "O-1"


def test_an_overdue_dispute_costs_its_lender_data_quality_points(client, book, clock, db_session):
    from dataclasses import replace

    from registry.services import dashboard, lenders

    _owner, asker, _other, inquiry_id = book
    _open(client, asker, inquiry_id)

    def quality(offset: timedelta) -> dashboard.Quality:
        lender = lenders.get_lender(db_session, "owner")
        return dashboard.lender_stats(db_session, lender, NOW + offset).quality

    on_time = quality(timedelta(days=20))
    assert on_time.overdue_disputes == 0 and on_time.parts["D"] == 0
    late = quality(timedelta(days=21))
    assert late.overdue_disputes == 1 and late.parts["D"] == 1
    unpenalised, _ = dashboard.data_quality_score(replace(late, overdue_disputes=0))
    assert late.score == max(0, (unpenalised or 0) - 10)
    assert "points off" in dashboard.QUALITY_FORMULA
