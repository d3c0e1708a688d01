"""POST /v1/loans semantics: accepted, unchanged, stale, conflicts, history, ordering."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select

from registry.models import Loan, LoanCorrection, LoanHistory, LoanMonth, Submission
from tests.helpers import NOW, iso, loan, token


def post(client: Any, lender: Any, records: list[dict[str, Any]], **headers: str) -> Any:
    return client.post("/v1/loans", json={"loans": records}, headers={**lender.headers, **headers})


def count(db_session: Any, model: Any) -> int:
    try:
        return int(db_session.scalar(select(func.count()).select_from(model)))
    finally:
        db_session.rollback()  # end the read: on SQLite an open transaction holds the lock


def test_new_loan_is_accepted_and_readable(client, new_lender, db_session):
    lender = new_lender()
    response = post(client, lender, [loan("L-1")])
    assert response.status_code == 200
    body = response.get_json()
    assert body["accepted"] == 1 and body["unchanged"] == 0 and body["stale"] == 0
    assert body["rejected"] == [] and body["submission_id"]

    stored = client.get("/v1/loans/L-1", headers=lender.headers).get_json()
    assert {k: stored[k] for k in loan("L-1")} == loan("L-1")
    assert stored["first_reported_at"] == stored["last_reported_at"] == iso(NOW)
    assert count(db_session, LoanHistory) == 1


def test_same_report_again_is_unchanged_and_writes_no_history(client, new_lender, db_session):
    lender = new_lender()
    post(client, lender, [loan()])
    body = post(client, lender, [loan()]).get_json()
    assert (body["accepted"], body["unchanged"], body["stale"]) == (0, 1, 0)
    assert count(db_session, LoanHistory) == 1


def test_unchanged_with_newer_as_of_remembers_it(client, new_lender, clock, db_session):
    lender = new_lender()
    post(client, lender, [loan(as_of=iso(NOW - timedelta(days=2)))])
    clock.advance(timedelta(hours=1))
    body = post(client, lender, [loan(as_of=iso(NOW - timedelta(days=1)))]).get_json()
    assert body["unchanged"] == 1
    stored = client.get("/v1/loans/L-1", headers=lender.headers).get_json()
    assert stored["as_of"] == iso(NOW - timedelta(days=1))
    assert stored["last_reported_at"] == iso(NOW + timedelta(hours=1))
    assert stored["first_reported_at"] == iso(NOW)
    assert count(db_session, LoanHistory) == 1
    # An older report now counts as stale against the remembered as_of.
    body = post(
        client, lender, [loan(outstanding=1, as_of=iso(NOW - timedelta(days=2)))]
    ).get_json()
    assert body["stale"] == 1


def test_newer_state_is_accepted_with_a_history_row(client, new_lender, db_session):
    lender = new_lender()
    post(client, lender, [loan(as_of=iso(NOW - timedelta(days=1)))])
    body = post(client, lender, [loan(outstanding=500_000)]).get_json()
    assert body["accepted"] == 1
    assert client.get("/v1/loans/L-1", headers=lender.headers).get_json()["outstanding"] == 500_000
    assert count(db_session, LoanHistory) == 2


def test_older_report_is_stale_and_changes_nothing(client, new_lender, db_session):
    lender = new_lender()
    post(client, lender, [loan(outstanding=500_000)])
    body = post(
        client, lender, [loan(outstanding=1, as_of=iso(NOW - timedelta(seconds=1)))]
    ).get_json()
    assert (body["accepted"], body["stale"]) == (0, 1)
    assert client.get("/v1/loans/L-1", headers=lender.headers).get_json()["outstanding"] == 500_000
    assert count(db_session, LoanHistory) == 1


def test_same_as_of_with_different_content_is_rejected_on_as_of(client, new_lender):
    lender = new_lender()
    post(client, lender, [loan()])
    body = post(client, lender, [loan(outstanding=1)]).get_json()
    assert body["accepted"] == 0
    assert body["rejected"] == [
        {
            "index": 0,
            "loan_ref": "L-1",
            "errors": [
                {"field": "loans[0].as_of", "message": body["rejected"][0]["errors"][0]["message"]}
            ],
        }
    ]
    assert "same as_of" in body["rejected"][0]["errors"][0]["message"]


def test_borrower_token_never_changes(client, new_lender):
    lender = new_lender()
    post(client, lender, [loan(borrower=1)])
    later = iso(NOW + timedelta(minutes=1))
    body = post(client, lender, [loan(borrower=2, as_of=later)]).get_json()
    assert body["rejected"][0]["errors"][0]["field"] == "loans[0].borrower"
    assert client.get("/v1/loans/L-1", headers=lender.headers).get_json()["borrower"] == token(1)


@pytest.mark.parametrize("order", [[0, 1, 2], [2, 1, 0], [1, 2, 0], [2, 0, 1]])
def test_out_of_order_reports_end_in_the_newest_state(client, new_lender, order):
    lender = new_lender()
    states = [
        loan(outstanding=900 - i * 100, as_of=iso(NOW - timedelta(hours=3 - i))) for i in range(3)
    ]
    for i in order:  # one request per report, in the given order
        post(client, lender, [states[i]])
    assert client.get("/v1/loans/L-1", headers=lender.headers).get_json()["outstanding"] == 700


@pytest.mark.parametrize("order", [[0, 1, 2], [2, 1, 0], [1, 0, 2]])
def test_order_within_one_batch_is_honoured(client, new_lender, db_session, order):
    lender = new_lender()
    states = [
        loan(outstanding=900 - i * 100, as_of=iso(NOW - timedelta(hours=3 - i))) for i in range(3)
    ]
    body = post(client, lender, [states[i] for i in order]).get_json()
    assert client.get("/v1/loans/L-1", headers=lender.headers).get_json()["outstanding"] == 700
    # Each report counts as if sent alone, in batch order.
    expected_accepted = {(0, 1, 2): 3, (2, 1, 0): 1, (1, 0, 2): 2}[tuple(order)]
    assert body["accepted"] == expected_accepted
    assert body["stale"] == 3 - expected_accepted
    assert count(db_session, LoanHistory) == expected_accepted


def test_valid_records_are_kept_when_others_are_rejected(client, new_lender, db_session):
    lender = new_lender()
    records: list[Any] = [
        loan("A"),
        loan("B", currency="cny"),
        loan("C"),
        {"loan_ref": "D"},
        "nonsense",
    ]
    body = post(client, lender, records).get_json()
    assert body["accepted"] == 2
    assert [r["index"] for r in body["rejected"]] == [1, 3, 4]
    assert [r["loan_ref"] for r in body["rejected"]] == ["B", "D", None]
    assert body["rejected"][2]["errors"] == [{"field": "loans[4]", "message": "must be an object"}]
    assert count(db_session, Loan) == 2 and count(db_session, LoanHistory) == 2


def test_every_record_rejected_is_still_200(client, new_lender, db_session):
    lender = new_lender()
    response = post(client, lender, [loan(principal=-1), loan(status="bogus")])
    assert response.status_code == 200
    assert len(response.get_json()["rejected"]) == 2
    assert count(db_session, Loan) == 0
    assert count(db_session, Submission) == 1


def test_same_loan_ref_at_two_lenders_are_two_loans(client, new_lender):
    a, b = new_lender(), new_lender()
    post(client, a, [loan("SHARED", outstanding=1)])
    post(client, b, [loan("SHARED", borrower=2, outstanding=2)])
    assert client.get("/v1/loans/SHARED", headers=a.headers).get_json()["outstanding"] == 1
    assert client.get("/v1/loans/SHARED", headers=b.headers).get_json()["outstanding"] == 2


def test_another_lenders_loan_is_not_found(client, new_lender):
    a, b = new_lender(), new_lender()
    post(client, a, [loan("MINE")])
    response = client.get("/v1/loans/MINE", headers=b.headers)
    assert response.status_code == 404
    assert response.content_type == "application/problem+json"
    page = client.get("/v1/loans", headers=b.headers).get_json()
    assert page == {"data": [], "next_cursor": None}


def test_loan_ref_with_slash_and_unicode_round_trips(client, new_lender):
    lender = new_lender()
    post(client, lender, [loan("2026/11/贷-7")])
    response = client.get("/v1/loans/2026/11/贷-7", headers=lender.headers)
    assert response.status_code == 200 and response.get_json()["loan_ref"] == "2026/11/贷-7"


def test_listing_pages_through_every_loan_with_a_status_filter(client, new_lender):
    lender = new_lender()
    records = [loan(f"L-{i:03d}", borrower=i) for i in range(25)]
    records += [loan(f"C-{i:03d}", borrower=i, status="closed", outstanding=0) for i in range(7)]
    post(client, lender, records)
    seen, cursor = [], None
    while True:
        query = {"limit": 10, "status": "open", **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/loans", query_string=query, headers=lender.headers).get_json()
        seen += [item["loan_ref"] for item in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"L-{i:03d}" for i in range(25)]
    closed = client.get("/v1/loans?status=closed&limit=1000", headers=lender.headers).get_json()
    assert len(closed["data"]) == 7 and closed["next_cursor"] is None
    everything = client.get("/v1/loans?limit=32", headers=lender.headers).get_json()
    assert len(everything["data"]) == 32 and everything["next_cursor"] is None


@pytest.mark.parametrize(
    "query, field",
    [
        ("status=pending", "status"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=ten", "limit"),
        ("cursor=%25%25%25", "cursor"),
    ],
)
def test_listing_rejects_bad_parameters(client, new_lender, query, field):
    response = client.get(f"/v1/loans?{query}", headers=new_lender().headers)
    assert response.status_code == 422
    assert [e["field"] for e in response.get_json()["errors"]] == [field]


def test_history_keeps_every_accepted_state(client, new_lender, db_session):
    lender = new_lender()
    for hours, outstanding in [(5, 900), (4, 800), (3, 800), (2, 700)]:
        post(
            client, lender, [loan(outstanding=outstanding, as_of=iso(NOW - timedelta(hours=hours)))]
        )
    rows = db_session.scalars(select(LoanHistory).order_by(LoanHistory.as_of)).all()
    db_session.rollback()
    assert [r.outstanding for r in rows] == [900, 800, 700]


def test_a_batch_is_a_handful_of_statements(client, new_lender, db_session, clock, engine):
    """Set-based ingest: the statement count does not grow with the batch size, the loans'
    months (`loan_months`) and corrections included."""
    lender = new_lender()
    statements: list[str] = []
    # The app's sessions run on the test's connection (`engine`), not on the app's engine.
    app_engine = engine

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    def statements_for(records: list[dict[str, Any]]) -> int:
        statements.clear()
        event.listen(app_engine, "before_cursor_execute", record)
        try:
            assert post(client, lender, records).get_json()["accepted"] == len(records)
        finally:
            event.remove(app_engine, "before_cursor_execute", record)
        return len(statements)

    def book(prefix: str, n: int) -> list[dict[str, Any]]:
        # Mixed rows: some credit lines without a due date, so some values are NULL.
        return [
            loan(f"{prefix}-{i}", borrower=i, product="credit_line", due_on=None)
            if i % 3 == 0
            else loan(f"{prefix}-{i}", borrower=i)
            for i in range(n)
        ]

    small = statements_for(book("S", 10))
    large = statements_for(book("T", 2000))
    # A savepoint and its release (the test's), the key, the lender's lock, the references'
    # read; then the references, the loans, the history, the months, the submission, and
    # the records charged to the lender's daily quota. On PostgreSQL the references and the
    # history are COPYed (no statement here) and the loans and months go through a staging
    # table: create it if missing and empty it, COPY, one INSERT ... SELECT (two more each).
    postgres = db_session.get_bind().dialect.name == "postgresql"
    assert large == small <= (13 if postgres else 11)
    assert count(db_session, LoanMonth) == 2010  # one month row per loan
    # Updating existing loans is set-based too, and so is an unchanged report in a new month.
    updates = [
        {**record, "outstanding": 1, "as_of": iso(NOW + timedelta(seconds=1))}
        for record in book("T", 2000)
    ]
    assert statements_for(updates) <= (14 if postgres else 11)
    # Corrections of stored reports: the history read, its rewrite, the trail, the months.
    fixes = [{**record, "outstanding": 2, "correction": True} for record in updates]
    assert statements_for(fixes) <= (17 if postgres else 13)
    clock.advance(timedelta(seconds=1))
    fixes_small = [{**record, "outstanding": 3, "correction": True} for record in updates[:5]]
    small_fix = statements_for(fixes_small)
    clock.advance(timedelta(seconds=1))
    assert small_fix == statements_for(
        [{**record, "outstanding": 3, "correction": True} for record in updates[5:]]
    )
    assert count(db_session, LoanCorrection) == 2000 + 2000  # every replaced row is kept


def test_a_bad_record_sent_again_lowers_the_data_quality_score_once(client, new_lender, db_session):
    """Issue 13, item 5: every upload still answers (and its history row shows) each
    rejection, but the score counts an identical rejected record once."""
    from registry.models import Lender
    from registry.services.dashboard import lender_stats

    lender = new_lender()
    bad = loan("BAD", currency="x")

    def score() -> tuple[int | None, int, int]:
        try:
            row = db_session.get(Lender, lender.id)
            quality = lender_stats(db_session, row, NOW).quality
            return quality.score, quality.records, quality.rejected
        finally:
            db_session.rollback()

    first = post(client, lender, [loan(f"G-{i}", borrower=i) for i in range(9)] + [bad])
    assert len(first.get_json()["rejected"]) == 1
    before = score()
    assert before[1:] == (10, 1)
    for _ in range(2):  # the same bad row again
        again = post(client, lender, [bad]).get_json()
        assert len(again["rejected"]) == 1
    assert score() == before
    # Beside a good record: that one counts (unchanged), the bad one still does not.
    assert len(post(client, lender, [loan("G-0", borrower=0), bad]).get_json()["rejected"]) == 1
    assert score()[1:] == (11, 1)
    repeats = db_session.scalars(
        select(Submission.repeated_rejections).order_by(Submission.created_at, Submission.id)
    ).all()
    db_session.rollback()
    assert sorted(repeats) == [0, 1, 1, 1]
    # A different bad record counts; so does the same one twice in a batch, once.
    post(client, lender, [loan("BAD-2", currency="y"), loan("BAD-2", currency="y")])
    assert score()[1:] == (12, 2)
