"""Applications and their outcomes as the console shows them: a lender's outcome rate and its
expired provisional loans, one borrower's provisional loans, and applications per day by
outcome for the dashboard. The rules (what is provisional, what has expired) are
`registry.services.applications`'; this module only reads them out for operators.

Phone tokens are never read here: the console has no use for them and shows none.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, select
from sqlalchemy.orm import Session

from registry.models import ApplicationOutcome, Inquiry, Lender, Loan, Outcome, Purpose
from registry.services.applications import (
    OutcomeRate,
    expired_provisional_loans,
    outcome_rate,
    provisional_until,
)

OUTCOME_RATE_DAYS = 30
# The lender page lists at most this many expired provisional loans, the latest first.
EXPIRED_SAMPLE = 20
# The dashboard's series, in stacking order: each outcome, then applications without one.
NO_OUTCOME = "none"
OUTCOME_SERIES = (
    Outcome.APPROVED.value,
    Outcome.DECLINED.value,
    Outcome.WITHDRAWN.value,
    NO_OUTCOME,
)

# A provisional loan's state on the borrower page.
PROVISIONAL, REPORTED, EXPIRED = "provisional", "reported", "expired"


def _reported() -> Any:
    """Whether the outcome's lender holds a loan with its loan_ref for its borrower (the
    read-time rule that ends a provisional loan)."""
    return exists().where(
        Loan.borrower == ApplicationOutcome.borrower,
        Loan.lender_id == ApplicationOutcome.lender_id,
        Loan.loan_ref == ApplicationOutcome.loan_ref,
    )


def lender_outcome_rate(session: Session, lender_id: int, now: datetime) -> OutcomeRate:
    """The lender's new_credit inquiries of the last OUTCOME_RATE_DAYS, by outcome."""
    return outcome_rate(session, lender_id, now - timedelta(days=OUTCOME_RATE_DAYS), now)


@dataclass(frozen=True)
class ExpiredLoan:
    inquiry_id: str
    borrower: str  # hex
    loan_ref: str
    amount: int
    currency: str
    approved_at: datetime
    expired_after: datetime  # the last moment it showed as provisional


@dataclass(frozen=True)
class ExpiredProvisional:
    """A lender's approvals whose provisional days are over: how many (`due`), how many of
    them it never followed with the loan (`expired`), and the latest of those."""

    provisional_days: int
    due: int
    expired: int
    latest: list[ExpiredLoan]

    @property
    def share(self) -> float:
        """expired / due, 0 when no approval is due yet: the score's P."""
        return self.expired / self.due if self.due else 0.0


def expired_provisional(
    session: Session, lender_id: int, now: datetime, provisional_days: int
) -> ExpiredProvisional:
    """The lender's expired provisional loans (approved, recorded before now minus
    `provisional_days`, its loan never reported for that borrower): the count, the approvals
    due by now, and the EXPIRED_SAMPLE latest."""
    cutoff = now - timedelta(days=provisional_days)
    past = (
        ApplicationOutcome.lender_id == lender_id,
        ApplicationOutcome.outcome == Outcome.APPROVED,
        ApplicationOutcome.recorded_at < cutoff,
    )
    due = session.scalar(select(func.count()).select_from(ApplicationOutcome).where(*past)) or 0
    rows = session.execute(
        select(
            ApplicationOutcome.inquiry_id,
            ApplicationOutcome.borrower,
            ApplicationOutcome.loan_ref,
            ApplicationOutcome.amount,
            ApplicationOutcome.currency,
            ApplicationOutcome.recorded_at,
        )
        .where(*past, ~_reported())
        .order_by(ApplicationOutcome.recorded_at.desc(), ApplicationOutcome.inquiry_id)
        .limit(EXPIRED_SAMPLE)
    ).tuples()
    latest = [
        ExpiredLoan(
            inquiry_id,
            borrower.hex(),
            loan_ref or "",
            amount or 0,
            currency or "",
            recorded_at,
            provisional_until(recorded_at, provisional_days),
        )
        for inquiry_id, borrower, loan_ref, amount, currency, recorded_at in rows
    ]
    expired = expired_provisional_loans(session, lender_id, now, provisional_days)
    return ExpiredProvisional(provisional_days, int(due), expired, latest)


@dataclass(frozen=True)
class ProvisionalLoan:
    """One approval of a borrower's application, as the borrower page lists it."""

    lender_code: str
    lender_name: str
    loan_ref: str
    amount: int
    currency: str
    approved_at: datetime
    until: datetime
    status: str  # PROVISIONAL, REPORTED (its loan replaced it) or EXPIRED


def borrower_provisional_loans(
    session: Session, borrower: bytes, now: datetime, provisional_days: int
) -> list[ProvisionalLoan]:
    """Every approved outcome about `borrower` (by the token key), newest first, with its
    state now: provisional, reported (the lender's loan replaced it) or expired."""
    rows = session.execute(
        select(
            Lender.code,
            Lender.name,
            ApplicationOutcome.loan_ref,
            ApplicationOutcome.amount,
            ApplicationOutcome.currency,
            ApplicationOutcome.recorded_at,
            _reported().label("reported"),
        )
        .join(Lender, Lender.id == ApplicationOutcome.lender_id)
        .where(
            ApplicationOutcome.borrower == borrower,
            ApplicationOutcome.outcome == Outcome.APPROVED,
        )
        .order_by(ApplicationOutcome.recorded_at.desc(), ApplicationOutcome.inquiry_id)
    ).tuples()
    loans = []
    for code, name, loan_ref, amount, currency, recorded_at, reported in rows:
        until = provisional_until(recorded_at, provisional_days)
        status = REPORTED if reported else (PROVISIONAL if now <= until else EXPIRED)
        loans.append(
            ProvisionalLoan(
                code, name, loan_ref or "", amount or 0, currency or "", recorded_at, until, status
            )
        )
    return loans


def applications_per_day(
    session: Session, days: list[date], since: datetime, day_column: Any
) -> dict[str, list[int]]:
    """new_credit inquiries made from `since`, per day of `days` (the inquiry's UTC day, as
    `day_column` computes it) and by outcome (OUTCOME_SERIES; NO_OUTCOME for none yet)."""
    index = {d: n for n, d in enumerate(days)}
    series = {name: [0] * len(days) for name in OUTCOME_SERIES}
    for day, name, count in session.execute(
        select(day_column, ApplicationOutcome.outcome, func.count())
        .select_from(Inquiry)
        .outerjoin(
            ApplicationOutcome,
            and_(
                ApplicationOutcome.borrower == Inquiry.borrower,
                ApplicationOutcome.inquiry_id == Inquiry.id,
            ),
        )
        .where(Inquiry.purpose == Purpose.NEW_CREDIT, Inquiry.created_at >= since)
        .group_by(day_column, ApplicationOutcome.outcome)
    ).tuples():
        position = index.get(day if isinstance(day, date) else date.fromisoformat(str(day)))
        key = NO_OUTCOME if name is None else str(name)
        if position is not None and key in series:
            series[key][position] += int(count)
    return series


__all__ = [
    "EXPIRED",
    "EXPIRED_SAMPLE",
    "NO_OUTCOME",
    "OUTCOME_RATE_DAYS",
    "OUTCOME_SERIES",
    "PROVISIONAL",
    "REPORTED",
    "ExpiredLoan",
    "ExpiredProvisional",
    "OutcomeRate",
    "ProvisionalLoan",
    "applications_per_day",
    "borrower_provisional_loans",
    "expired_provisional",
    "lender_outcome_rate",
]
