"""`registry.services.bulk`: a batch's rows in a fixed number of statements (COPY on
PostgreSQL), and COPY's failures read as any statement's would."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Table, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from registry.db import database_trouble, make_engine
from registry.models import LoanRef
from registry.services.bulk import insert_rows, one_of

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
REFS: Table = LoanRef.__table__  # type: ignore[assignment]


def refs(lender_id: int, count: int) -> list[dict[str, Any]]:
    return [
        {
            "lender_id": lender_id,
            "loan_ref": f"B-{n}",
            "borrower": bytes([n]) * 32,
            "created_at": NOW,
        }
        for n in range(count)
    ]


def test_rows_go_in_and_a_conflict_clause_decides_clashes(
    db_session: Session, new_lender: Any
) -> None:
    lender = new_lender()
    insert_rows(db_session, REFS, refs(lender.id, 40))
    insert_rows(db_session, REFS, [])  # nothing at all

    def keep_stored(statement: Any) -> Any:
        return statement.on_conflict_do_nothing(index_elements=["lender_id", "loan_ref"])

    clashing = [{**row, "borrower": b"\xff" * 32} for row in refs(lender.id, 45)]
    insert_rows(db_session, REFS, clashing, keep_stored)
    stored = dict(
        db_session.execute(
            select(LoanRef.loan_ref, LoanRef.borrower).where(
                LoanRef.lender_id == lender.id,
                one_of(db_session, LoanRef.loan_ref, [f"B-{n}" for n in (0, 39, 40, 44, 99)]),
            )
        )
        .tuples()
        .all()
    )
    assert stored == {"B-0": b"\x00" * 32, "B-39": bytes([39]) * 32, "B-40": b"\xff" * 32,
                      "B-44": b"\xff" * 32}  # fmt: skip
    assert (
        db_session.scalar(
            select(LoanRef.created_at).where(
                LoanRef.loan_ref == "B-7", LoanRef.lender_id == lender.id
            )
        )
        == NOW
    )


@pytest.mark.postgres
@pytest.mark.committed
def test_a_copy_that_times_out_is_a_database_timeout(engine: Any, new_lender: Any) -> None:
    """Another transaction holds the table; the COPY waits past the statement timeout: the
    error is SQLAlchemy's OperationalError (57014), which the API answers with a 503."""
    lender = new_lender()
    url = engine.url.render_as_string(hide_password=False)
    app_engine = make_engine(url)
    blocker = make_engine(url)
    try:
        with blocker.connect() as holding:
            holding.execute(text("LOCK TABLE loan_refs IN ACCESS EXCLUSIVE MODE"))
            with Session(app_engine) as session, pytest.raises(OperationalError) as caught:
                session.execute(text("SET LOCAL statement_timeout = '300ms'"))
                insert_rows(session, REFS, refs(lender.id, 5))
            holding.rollback()
        assert getattr(caught.value.orig, "sqlstate", None) == "57014"
        trouble = database_trouble(caught.value)
        assert trouble is not None and trouble.status == 503
        with Session(app_engine) as session:  # the pool's connection still works
            assert (
                session.scalar(select(LoanRef.loan_ref).where(LoanRef.lender_id == lender.id))
                is None
            )
    finally:
        app_engine.dispose()
        blocker.dispose()
