"""Retractions: a lender takes back a loan it reported in error.

One unit of work (the caller's) removes the loan, its history, its months and its reference,
and writes the tombstone (`loan_retractions`: who, when, why). The lender's row is locked
first, as an upload locks it, so that a retraction and an upload of the same lender never
interleave; an inquiry sees the loan whole or not at all (every row goes in one commit).
Afterwards the `loan_ref` is free: it can be reported anew, under any borrower.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select
from sqlalchemy.orm import Session

from registry.models import Lender, Loan, LoanHistory, LoanMonth, LoanRef, LoanRetraction
from registry.services.errors import NotFound
from registry.services.fields import is_loan_ref
from registry_protocol.wire import RetractionReason


def retract(
    session: Session,
    lender_id: int,
    loan_ref: str,
    reason: RetractionReason,
    now: datetime,
    retracted_by: str,
) -> LoanRetraction:
    """Remove the lender's loan `loan_ref` from every table and every report; its tombstone.
    An unknown (or already retracted) reference is NotFound."""
    # The same lock as an upload (NO KEY UPDATE: the lender's inquiries do not wait).
    session.execute(select(Lender.id).where(Lender.id == lender_id).with_for_update(key_share=True))
    borrower = (
        session.scalar(
            select(LoanRef.borrower).where(
                LoanRef.lender_id == lender_id, LoanRef.loan_ref == loan_ref
            )
        )
        if is_loan_ref(loan_ref)
        else None
    )
    if borrower is None:
        raise NotFound(f"no loan with loan_ref {loan_ref!r}")
    keys = (borrower, lender_id, loan_ref)
    for model in (LoanMonth, Loan):
        session.execute(
            delete(model).where(
                model.borrower == keys[0], model.lender_id == keys[1], model.loan_ref == keys[2]
            )
        )
    deleted = session.execute(
        delete(LoanHistory).where(
            LoanHistory.borrower == borrower,
            LoanHistory.lender_id == lender_id,
            LoanHistory.loan_ref == loan_ref,
        )
    )
    history_rows = cast(CursorResult[Any], deleted).rowcount
    session.execute(
        delete(LoanRef).where(LoanRef.lender_id == lender_id, LoanRef.loan_ref == loan_ref)
    )
    tombstone = LoanRetraction(
        lender_id=lender_id,
        loan_ref=loan_ref,
        retracted_at=now,
        borrower=borrower,
        reason=str(reason),
        history_rows=history_rows or 0,
        retracted_by=retracted_by[:64],
    )
    session.add(tombstone)
    session.flush()
    return tombstone
