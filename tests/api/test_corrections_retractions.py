"""Corrections of stored reports (`"correction": true`) and retractions
(`DELETE /v1/loans/<loan_ref>`), on both backends."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import func, select

from registry.models import (
    Loan,
    LoanCorrection,
    LoanHistory,
    LoanMonth,
    LoanRef,
    LoanRetraction,
)
from tests.helpers import NOW, iso, loan, token


def at(year: int, month: int, day: int) -> str:
    return iso(datetime(year, month, day, 12, tzinfo=UTC))


def post(client: Any, lender: Any, records: list[dict[str, Any]]) -> dict[str, Any]:
    response = client.post("/v1/loans", json={"loans": records}, headers=lender.headers)
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def rows(db_session: Any, model: Any, **where: Any) -> list[Any]:
    try:
        found = list(db_session.scalars(select(model).filter_by(**where)).all())
        db_session.expunge_all()  # keep what was read: the rollback would expire it
        return found
    finally:
        db_session.rollback()


def count(db_session: Any, model: Any) -> int:
    try:
        return int(db_session.scalar(select(func.count()).select_from(model)))
    finally:
        db_session.rollback()


def state(day: str, dpd: int = 0, **fields: Any) -> dict[str, Any]:
    return loan(opened_on="2026-01-01", due_on="2027-06-01", as_of=day, days_past_due=dpd, **fields)


def months(db_session: Any) -> dict[int, tuple[str, int]]:
    return {
        r.month.month: (r.status, r.worst_days_past_due)
        for r in rows(db_session, LoanMonth, loan_ref="L-1")
    }


# Corrections ---------------------------------------------------------------------------


def test_a_correction_replaces_a_past_report_and_recomputes_its_month(
    client, new_lender, db_session
):
    lender = new_lender()
    post(client, lender, [state(at(2026, 3, 5), dpd=70, outstanding=700_000)])
    post(client, lender, [state(at(2026, 3, 20), outstanding=690_000)])
    post(client, lender, [state(at(2026, 4, 5), outstanding=600_000)])
    assert months(db_session) == {3: ("3", 70), 4: ("0", 0)}
    # The 70 days past due of 5 March were a mistake.
    body = post(client, lender, [state(at(2026, 3, 5), outstanding=700_000, correction=True)])
    assert (body["accepted"], body["rejected"]) == (1, [])
    assert months(db_session) == {3: ("0", 0), 4: ("0", 0)}
    march = rows(db_session, LoanMonth, loan_ref="L-1", month=date(2026, 3, 1))[0]
    assert march.last_delinquent_on is None
    history = {r.as_of.day: r.days_past_due for r in rows(db_session, LoanHistory)}
    assert history == {5: 0, 20: 0}  # 5 March and 20 March (5 April is day 5 too)
    (trail,) = rows(db_session, LoanCorrection)
    assert trail.as_of == datetime(2026, 3, 5, 12, tzinfo=UTC) and trail.corrected_at == NOW
    assert trail.replaced["days_past_due"] == 70 and trail.replaced["amount_past_due"] > 0
    assert trail.replaced["opened_on"] == "2026-01-01" and trail.replaced["status"] == "open"
    # The current state is the newest report's, untouched.
    current = client.get("/v1/loans/L-1", headers=lender.headers).get_json()
    assert current["outstanding"] == 600_000 and current["as_of"] == at(2026, 4, 5)


def test_correcting_the_newest_report_changes_the_current_state(client, new_lender, db_session):
    lender = new_lender()
    post(client, lender, [state(at(2026, 4, 5), outstanding=600_000)])
    body = post(client, lender, [state(at(2026, 4, 5), outstanding=550_000, correction=True)])
    assert body["accepted"] == 1
    current = client.get("/v1/loans/L-1", headers=lender.headers).get_json()
    assert current["outstanding"] == 550_000 and current["as_of"] == at(2026, 4, 5)
    assert [r.outstanding for r in rows(db_session, LoanHistory)] == [550_000]
    assert [r.replaced["outstanding"] for r in rows(db_session, LoanCorrection)] == [600_000]


def test_a_correction_equal_to_the_stored_report_is_unchanged(client, new_lender, db_session):
    lender = new_lender()
    post(client, lender, [state(at(2026, 4, 5))])
    body = post(client, lender, [state(at(2026, 4, 5), correction=True)])
    assert (body["accepted"], body["unchanged"]) == (0, 1)
    assert count(db_session, LoanCorrection) == 0


def test_a_correction_naming_no_stored_as_of_is_rejected(client, new_lender, db_session):
    lender = new_lender()
    post(client, lender, [state(at(2026, 4, 5))])
    for record in [
        state(at(2026, 4, 6), correction=True),  # no report with that as_of
        state(at(2026, 4, 5), loan_ref="UNKNOWN", correction=True),  # no such loan
    ]:
        body = post(client, lender, [record])
        (rejection,) = body["rejected"]
        assert rejection["errors"][0]["field"] == "loans[0].as_of"
        assert "correction" in rejection["errors"][0]["message"]
    assert count(db_session, LoanCorrection) == 0
    # A correction for another borrower is a borrower error, as any report.
    body = post(client, lender, [state(at(2026, 4, 5), borrower=2, correction=True)])
    assert body["rejected"][0]["errors"][0]["field"] == "loans[0].borrower"


def test_without_the_flag_the_same_as_of_is_still_a_conflict(client, new_lender):
    lender = new_lender()
    post(client, lender, [state(at(2026, 4, 5))])
    body = post(client, lender, [state(at(2026, 4, 5), outstanding=1)])
    assert body["rejected"][0]["errors"][0]["field"] == "loans[0].as_of"
    assert "correction" in body["rejected"][0]["errors"][0]["message"]


def test_a_correction_in_the_batch_that_reported_the_state(client, new_lender, db_session):
    lender = new_lender()
    body = post(
        client,
        lender,
        [
            state(at(2026, 4, 5), dpd=40, outstanding=600_000),
            state(at(2026, 4, 5), outstanding=600_000, correction=True),
        ],
    )
    assert (body["accepted"], body["rejected"]) == (2, [])
    assert [r.days_past_due for r in rows(db_session, LoanHistory)] == [0]
    assert months(db_session) == {4: ("0", 0)}
    assert count(db_session, LoanCorrection) == 0  # nothing stored was replaced


def test_a_correction_of_a_write_off_month(client, new_lender, db_session):
    lender = new_lender()
    post(client, lender, [state(at(2026, 5, 2), dpd=100, outstanding=500_000)])
    post(client, lender, [state(at(2026, 5, 20), dpd=118, status="written_off")])
    assert months(db_session) == {5: ("W", 118)}
    post(client, lender, [state(at(2026, 5, 20), dpd=118, outstanding=500_000, correction=True)])
    assert months(db_session) == {5: ("4", 118)}


# Retractions ---------------------------------------------------------------------------


def retract(client: Any, lender: Any, loan_ref: str, reason: Any = "reported_in_error") -> Any:
    return client.delete(f"/v1/loans/{loan_ref}", json={"reason": reason}, headers=lender.headers)


def test_a_retraction_removes_everything_and_keeps_a_tombstone(client, new_lender, db_session):
    lender = new_lender()
    post(client, lender, [state(at(2026, 3, 5), dpd=40, outstanding=700_000)])
    post(client, lender, [state(at(2026, 4, 5), outstanding=600_000)])
    post(client, lender, [state(at(2026, 4, 5), outstanding=650_000, correction=True)])
    post(client, lender, [loan("KEEP", borrower=1)])
    response = retract(client, lender, "L-1", "wrong_borrower")
    assert response.status_code == 200
    assert response.get_json() == {
        "loan_ref": "L-1",
        "retracted_at": iso(NOW),
        "reason": "wrong_borrower",
    }
    for model in (Loan, LoanHistory, LoanMonth, LoanRef):
        assert [r.loan_ref for r in rows(db_session, model)] == ["KEEP"], model
    (tombstone,) = rows(db_session, LoanRetraction)
    assert (tombstone.loan_ref, tombstone.reason, tombstone.history_rows) == (
        "L-1",
        "wrong_borrower",
        2,
    )
    assert tombstone.borrower.hex() == token(1) and tombstone.lender_id == lender.id
    assert tombstone.retracted_by.startswith("api_key:")
    assert client.get("/v1/loans/L-1", headers=lender.headers).status_code == 404
    # Retracted: a second retraction is a 404 problem.
    again = retract(client, lender, "L-1")
    assert again.status_code == 404 and again.content_type == "application/problem+json"


def test_a_retracted_loan_ref_can_be_reported_anew_under_another_borrower(
    client, new_lender, db_session, clock
):
    from datetime import timedelta

    lender = new_lender()
    post(client, lender, [state(at(2026, 4, 5), dpd=40, outstanding=600_000)])
    assert retract(client, lender, "L-1", "wrong_borrower").status_code == 200
    clock.advance(timedelta(minutes=1))
    body = post(client, lender, [state(at(2026, 4, 5), borrower=2, outstanding=600_000)])
    assert (body["accepted"], body["rejected"]) == (1, [])
    stored = client.get("/v1/loans/L-1", headers=lender.headers).get_json()
    assert stored["borrower"] == token(2) and stored["days_past_due"] == 0
    assert months(db_session) == {4: ("0", 0)}  # nothing of the retracted loan's months
    # Retracted again, the tombstones keep both retractions.
    assert retract(client, lender, "L-1", "duplicate").status_code == 200
    assert sorted(r.reason for r in rows(db_session, LoanRetraction)) == [
        "duplicate",
        "wrong_borrower",
    ]


def test_unknown_and_other_lenders_loans_are_404(client, new_lender):
    mine, other = new_lender(), new_lender()
    post(client, other, [loan("THEIRS")])
    for ref in ("NOPE", "THEIRS"):
        response = retract(client, mine, ref)
        assert response.status_code == 404
        assert response.content_type == "application/problem+json"
    assert client.get("/v1/loans/THEIRS", headers=other.headers).status_code == 200


def test_a_bad_reason_is_a_422_naming_reason(client, new_lender):
    lender = new_lender()
    post(client, lender, [loan()])
    for body in ({"reason": "oops"}, {"reason": 3}, {}):
        response = client.delete("/v1/loans/L-1", json=body, headers=lender.headers)
        assert response.status_code == 422
        assert [e["field"] for e in response.get_json()["errors"]] == ["reason"]
    response = client.delete(
        "/v1/loans/L-1", json={"reason": "duplicate", "why": "x"}, headers=lender.headers
    )
    assert response.status_code == 422
    assert [e["field"] for e in response.get_json()["errors"]] == ["why"]
    assert client.get("/v1/loans/L-1", headers=lender.headers).status_code == 200


def test_a_retraction_needs_a_key(client, new_lender):
    lender = new_lender()
    post(client, lender, [loan()])
    response = client.delete("/v1/loans/L-1", json={"reason": "duplicate"})
    assert response.status_code == 401


def test_a_retracted_loan_leaves_every_report(client, new_lender):
    reporter, asker = new_lender(), new_lender()
    post(client, reporter, [state(at(2026, 10, 5), dpd=90, outstanding=600_000)])
    query = {"borrower": token(1), "purpose": "new_credit", "consent_ref": "c-1"}

    def report() -> dict[str, Any]:
        response = client.post("/v1/inquiries", json=query, headers=asker.headers)
        assert response.status_code == 200, response.get_json()
        body: dict[str, Any] = response.get_json()
        return body

    before = report()
    assert before["summary"]["open_loans"] == 1
    assert retract(client, reporter, "L-1").status_code == 200
    after = report()
    assert after["summary"]["open_loans"] == 0
    assert after["summary"]["outstanding"] == {}
    assert after.get("tradelines", []) == []
    assert after["summary"].get("worst_days_past_due_24m", 0) == 0
