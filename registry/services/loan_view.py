"""The operator's view of one loan, by its lender and the lender's reference: the current
state, every accepted report (history), the monthly statuses derived from them, the reports
that corrections replaced (the audit trail, never shown in reports), and the tombstones of
the reference's retractions. Read-only apart from its audit row, which states the operator's
reason like every look-up of a person's record. The caller owns the unit of work."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.models import (
    Lender,
    Loan,
    LoanCorrection,
    LoanHistory,
    LoanMonth,
    LoanRef,
    LoanRetraction,
)
from registry.services import audit
from registry.services.errors import FieldError, InvalidInput, NotFound
from registry.services.lookup import parse_reason


@dataclass(frozen=True)
class MonthStatus:
    month: date
    status: str
    worst_days_past_due: int


@dataclass(frozen=True)
class LoanRecord:
    lender: Lender
    loan_ref: str
    borrower: str | None  # hex; None when only tombstones remain
    current: Loan | None
    history: list[LoanHistory]  # newest first
    corrected_as_of: set[datetime]  # the history rows a correction replaced
    corrections: list[LoanCorrection]  # newest first
    months: list[MonthStatus]  # newest first
    retractions: list[LoanRetraction]  # newest first


def loan_record(
    session: Session,
    lender_code: str,
    loan_ref: str,
    reason: str,
    now: datetime,
    actor: audit.Actor,
) -> LoanRecord:
    """The record of lender `lender_code`'s loan `loan_ref`, audited as `loan_lookup` with
    the stated reason; NotFound when the lender never reported that reference."""
    errors: list[FieldError] = []
    try:
        reason = parse_reason(reason)
    except InvalidInput as exc:
        errors.extend(exc.errors)
    loan_ref = loan_ref.strip()
    if not loan_ref or len(loan_ref) > 64:
        errors.append(FieldError("loan_ref", "the lender's loan reference, 1 to 64 characters"))
    if errors:
        raise InvalidInput("the look-up is invalid", errors)
    lender = session.scalar(select(Lender).where(Lender.code == lender_code))
    if lender is None:
        raise NotFound(f"no lender {lender_code!r}")
    ref = session.get(LoanRef, (lender.id, loan_ref))
    retractions = list(
        session.scalars(
            select(LoanRetraction)
            .where(LoanRetraction.lender_id == lender.id, LoanRetraction.loan_ref == loan_ref)
            .order_by(LoanRetraction.retracted_at.desc())
        )
    )
    if ref is None and not retractions:
        raise NotFound(f"lender {lender.code} never reported a loan {loan_ref!r}")
    key: dict[str, Any] = {"lender_id": lender.id, "loan_ref": loan_ref}
    history: list[LoanHistory] = []
    corrections: list[LoanCorrection] = []
    months: list[MonthStatus] = []
    current = None
    if ref is not None:
        key["borrower"] = ref.borrower
        current = session.get(Loan, (ref.borrower, lender.id, loan_ref))
        history = list(
            session.scalars(select(LoanHistory).filter_by(**key).order_by(LoanHistory.as_of.desc()))
        )
        corrections = list(
            session.scalars(
                select(LoanCorrection)
                .filter_by(**key)
                .order_by(LoanCorrection.corrected_at.desc(), LoanCorrection.as_of.desc())
            )
        )
        months = [
            MonthStatus(row.month, row.status, row.worst_days_past_due)
            for row in session.scalars(
                select(LoanMonth).filter_by(**key).order_by(LoanMonth.month.desc())
            )
        ]
    borrower = ref.borrower.hex() if ref is not None else None
    audit.record(
        session,
        actor,
        "loan_lookup",
        now,
        f"loan:{lender.code}/{loan_ref}"[:160],
        {"reason": reason, "borrower": borrower},
    )
    return LoanRecord(
        lender,
        loan_ref,
        borrower,
        current,
        history,
        {row.as_of for row in corrections},
        corrections,
        months,
        retractions,
    )
