"""One borrower's book: every loan's current state, its lender's exit, and its stored months.

One statement by token: the loans (joined with their lender for `exited_at`) and their
`loan_months` (outer join), which ingest keeps up to date, so that an inquiry never scans
`loan_history`. Other lenders' provisional loans become `LoanRow`s too
(`report.applications`), with status `provisional`, no product and `provisional_until` set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy import and_, bindparam, select
from sqlalchemy.orm import Session

from registry.db import core
from registry.models import Lender, Loan, LoanMonth


@dataclass(frozen=True)
class Month:
    status: str  # a character of the 24-month alphabet
    worst_days_past_due: int
    last_delinquent_on: date | None


@dataclass
class LoanRow:
    """A loan as the report reads it."""

    lender_id: int
    loan_ref: str
    product: str | None  # None for a provisional loan
    currency: str
    credit_limit: int
    outstanding: int
    amount_past_due: int
    days_past_due: int
    status: str
    special_event: str | None
    opened_on: date
    closed_on: date | None
    as_of: datetime
    scheduled_payment: int | None
    payment_frequency: str | None
    written_off_amount: int | None
    written_off_on: date | None
    exited_at: datetime | None  # the lender's exit, if it left the registry
    months: dict[date, Month] = field(default_factory=dict)
    # A provisional loan (an approved application) is shown until then, unless reported.
    provisional_until: datetime | None = None


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# Built once: the statement's construction and cache key would otherwise cost more than
# running it (an inquiry's hot path). `borrower` is bound at each call.
_BOOK = (
    select(
        Loan.lender_id,
        Loan.loan_ref,
        Loan.product,
        Loan.currency,
        Loan.credit_limit,
        Loan.outstanding,
        Loan.amount_past_due,
        Loan.days_past_due,
        Loan.status,
        Loan.special_event,
        Loan.opened_on,
        Loan.closed_on,
        Loan.as_of,
        Loan.scheduled_payment,
        Loan.payment_frequency,
        Loan.written_off_amount,
        Loan.written_off_on,
        Lender.exited_at,
        LoanMonth.month,
        LoanMonth.status,
        LoanMonth.worst_days_past_due,
        LoanMonth.last_delinquent_on,
    )
    .join(Lender, Lender.id == Loan.lender_id)
    .outerjoin(
        LoanMonth,
        and_(
            LoanMonth.borrower == Loan.borrower,
            LoanMonth.lender_id == Loan.lender_id,
            LoanMonth.loan_ref == Loan.loan_ref,
        ),
    )
    .where(Loan.borrower == bindparam("borrower"))
)


def read_book(session: Session, borrower: bytes) -> list[LoanRow]:
    """Every stored loan of `borrower`, with its months (one statement: a row per month, or
    one row with no month for a loan without any)."""
    loans: dict[tuple[int, str], LoanRow] = {}
    rows = core(session).execute(_BOOK, {"borrower": borrower}).tuples()
    for row in rows:
        (lender_id, loan_ref, product, currency, limit, outstanding, past_due, dpd) = row[:8]
        (status, event, opened_on, closed_on, as_of, scheduled, frequency) = row[8:15]
        written_off_amount, written_off_on, exited_at = row[15:18]
        month, month_status, worst, last_delinquent_on = row[18:]
        loan = loans.get((lender_id, loan_ref))
        if loan is None:
            loan = loans[(lender_id, loan_ref)] = LoanRow(
                lender_id=lender_id,
                loan_ref=loan_ref,
                product=product,
                currency=currency,
                credit_limit=limit,
                outstanding=outstanding,
                amount_past_due=past_due,
                days_past_due=dpd,
                status=status,
                special_event=event,
                opened_on=opened_on,
                closed_on=closed_on,
                as_of=_utc(as_of),
                scheduled_payment=scheduled,
                payment_frequency=frequency,
                written_off_amount=written_off_amount,
                written_off_on=written_off_on,
                exited_at=_utc(exited_at) if exited_at is not None else None,
            )
        if month is not None and month_status is not None and worst is not None:
            loan.months[month] = Month(month_status, worst, last_delinquent_on)
    return list(loans.values())
