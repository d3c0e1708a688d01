"""All-or-nothing writes, and who waits for whom while a batch is being written."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
from sqlalchemy import func, select, text

from registry.db import begin_write
from registry.models import Lender, Loan, LoanHistory, LoanRef, Submission
from registry.services import reporting
from tests.helpers import loan, token


def counts(db_session: Any) -> tuple[int, ...]:
    try:
        return tuple(
            int(db_session.scalar(select(func.count()).select_from(model)))
            for model in (Loan, LoanRef, LoanHistory, Submission)
        )
    finally:
        db_session.rollback()


def test_a_failure_mid_batch_leaves_nothing_behind(client, new_lender, db_session, monkeypatch):
    lender = new_lender()
    client.post("/v1/loans", json={"loans": [loan("BEFORE")]}, headers=lender.headers)
    before = counts(db_session)

    real_row = reporting._history_row

    def broken_row(*args: Any, **kwargs: Any) -> dict[str, Any]:
        row = real_row(*args, **kwargs)
        row["submission_id"] = None  # NOT NULL: the history insert fails after the upsert
        return row

    monkeypatch.setattr(reporting, "_history_row", broken_row)
    records = [loan(f"NEW-{i}", borrower=i) for i in range(50)]
    records.append(loan("BEFORE", outstanding=1, as_of="2026-11-25T12:01:00Z"))
    response = client.post("/v1/loans", json={"loans": records}, headers=lender.headers)
    assert response.status_code == 500
    assert response.content_type == "application/problem+json"
    assert counts(db_session) == before
    monkeypatch.undo()
    stored = client.get("/v1/loans/BEFORE", headers=lender.headers).get_json()
    assert stored["outstanding"] == loan()["outstanding"]


@pytest.mark.committed
def test_database_errors_do_not_carry_bound_values(engine):
    from registry.db import make_engine

    app_engine = make_engine(str(engine.url.render_as_string(hide_password=False)))
    with pytest.raises(Exception) as caught, app_engine.connect() as conn:
        conn.execute(text("SELECT * FROM no_such_table WHERE x = :p"), {"p": token("secret")})
    app_engine.dispose()
    assert token("secret") not in str(caught.value)


def test_readers_do_not_wait_for_a_writer(live_server, new_lender, db_session):
    """While one transaction holds the write lock (SQLite) or the lender's row lock
    (PostgreSQL), reads, and on PostgreSQL the same lender's inquiries, go through."""
    lender = new_lender()
    begin_write(db_session)
    db_session.execute(
        select(Lender.id).where(Lender.id == lender.id).with_for_update(key_share=True)
    )
    try:
        started = time.monotonic()
        page = requests.get(f"{live_server.url}/v1/loans", headers=lender.headers, timeout=20)
        assert page.status_code == 200
        if db_session.get_bind().dialect.name == "postgresql":
            report = requests.post(
                f"{live_server.url}/v1/inquiries",
                headers=lender.headers,
                timeout=20,
                json={"borrower": token(1), "purpose": "new_credit", "consent_ref": "c"},
            )
            assert report.status_code == 200
        assert time.monotonic() - started < 5
    finally:
        db_session.rollback()
