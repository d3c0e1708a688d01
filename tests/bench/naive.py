"""BENCH ONLY: the naive baseline of issue 15's ingest target. Never used by the registry.

The way loan reports would be stored by the first code anyone writes with an ORM: each record
validated with the same pydantic model (`LoanReport`), its reference and loan looked up with
`session.get`, the loan, history row and month row built as ORM objects and flushed one
record at a time, one transaction per batch. It keeps the registry's main rules (stale,
unchanged, a new state with its history row and its month) so that it does comparable work,
but none of the batch machinery: that machinery is what the benchmark measures against it.

It runs in process, without HTTP, JSON or a client, which flatters it: the ratio the
benchmark prints is, if anything, too small.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from registry.db import make_engine
from registry.models import STATE_FIELDS, Loan, LoanHistory, LoanMonth, LoanRef
from registry.services.loan_report import LoanReport
from registry_protocol.payment_status import month_of, month_status, worse


def ingest_one_by_one(
    url: str, lender_id: int, batches: Sequence[Sequence[dict[str, Any]]]
) -> float:
    """Store `batches` of wire records record by record; the seconds it took."""
    engine = make_engine(url)
    started = time.perf_counter()
    try:
        for batch in batches:
            now = datetime.now(UTC)
            submission_id = str(uuid.uuid4())
            with Session(engine) as session, session.begin():
                for raw in batch:
                    _store(session, lender_id, LoanReport.model_validate(raw), submission_id, now)
                    session.flush()  # one record at a time
    finally:
        engine.dispose()
    return time.perf_counter() - started


def _store(
    session: Session, lender_id: int, report: LoanReport, submission_id: str, now: datetime
) -> None:
    token = bytes.fromhex(report.borrower)
    state = dict(zip(STATE_FIELDS, report.state(), strict=True))
    ref = session.get(LoanRef, (lender_id, report.loan_ref))
    loan = None if ref is None else session.get(Loan, (ref.borrower, lender_id, report.loan_ref))
    if ref is None:
        session.add(
            LoanRef(lender_id=lender_id, loan_ref=report.loan_ref, borrower=token, created_at=now)
        )
    if loan is None:
        loan = Loan(
            borrower=token,
            lender_id=lender_id,
            loan_ref=report.loan_ref,
            as_of=report.as_of,
            first_reported_at=now,
            last_reported_at=now,
            last_submission_id=submission_id,
            **state,
        )
        session.add(loan)
    elif report.as_of < loan.as_of:
        return  # stale
    elif all(getattr(loan, name) == value for name, value in state.items()):
        loan.as_of, loan.last_reported_at = report.as_of, now  # unchanged
        return
    else:
        for name, value in state.items():
            setattr(loan, name, value)
        loan.as_of, loan.last_reported_at = report.as_of, now
        loan.last_submission_id = submission_id
    session.add(
        LoanHistory(
            borrower=token,
            lender_id=lender_id,
            loan_ref=report.loan_ref,
            as_of=report.as_of,
            submission_id=submission_id,
            recorded_at=now,
            **state,
        )
    )
    month = month_of(report.as_of.date())
    row = session.get(LoanMonth, (token, lender_id, report.loan_ref, month))
    status = month_status(str(report.status), report.days_past_due)
    if row is None:
        session.add(
            LoanMonth(
                borrower=token,
                lender_id=lender_id,
                loan_ref=report.loan_ref,
                month=month,
                status=status,
                worst_days_past_due=report.days_past_due,
                last_delinquent_on=report.as_of.date() if report.days_past_due else None,
            )
        )
    else:
        row.status = worse(row.status, status)
        row.worst_days_past_due = max(row.worst_days_past_due, report.days_past_due)
