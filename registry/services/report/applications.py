"""Other lenders' applications for one borrower: who asked, what is still pending, and the
approved ones not yet reported (provisional loans).

One statement by token: other lenders' `new_credit` inquiries with their outcome (if any),
those made within the widest window and those older whose approval may still be provisional.
Rules (`now` the inquiry's moment, every boundary included):
- `other_lenders_inquiring[w]`: distinct other lenders with an inquiry made at or after
  now - w, for w in 1h, 24h, 1d, 7d, 30d, 90d;
- pending applications: other lenders' inquiries made at or after now - 7 days with no
  outcome; their `amount_requested` summed per currency (inquiries without one add nothing);
- a provisional loan: another lender's approved outcome recorded at or after
  now - provisional_days, for which that lender has no loan with that `loan_ref` for this
  borrower in the book (the loan replaces it: read-time, so that whichever of outcome and loan
  arrives first, the borrower's debt is counted once). Declines and withdrawals only stop an
  application from being pending; nothing else of them is shown.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, or_, select
from sqlalchemy.orm import Session

from registry.db import core
from registry.models import ApplicationOutcome, Inquiry, Outcome, Purpose
from registry.services.applications import OUTCOME_WINDOW_DAYS, provisional_until
from registry.services.report.book import LoanRow
from registry.services.report.tradelines import PROVISIONAL

WINDOWS = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "1d": timedelta(days=1),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
}
WIDEST_WINDOW = max(WINDOWS.values())
PENDING_WINDOW = timedelta(days=7)


@dataclass(frozen=True)
class Application:
    """Another lender's new_credit inquiry, with its outcome if one was recorded."""

    lender_id: int
    inquired_at: datetime
    amount_requested: int | None
    currency: str | None
    outcome: str | None
    loan_ref: str | None
    amount: int | None
    amount_currency: str | None
    recorded_at: datetime | None


# Built once (the inquiry's hot path). An outcome comes at most 30 days after its inquiry, so
# an approval still provisional belongs to an inquiry made within provisional_days + 30 days.
_APPLICATIONS = (
    select(
        Inquiry.lender_id,
        Inquiry.created_at,
        Inquiry.amount_requested,
        Inquiry.currency,
        ApplicationOutcome.outcome,
        ApplicationOutcome.loan_ref,
        ApplicationOutcome.amount,
        ApplicationOutcome.currency,
        ApplicationOutcome.recorded_at,
    )
    .outerjoin(
        ApplicationOutcome,
        and_(
            ApplicationOutcome.borrower == Inquiry.borrower,
            ApplicationOutcome.inquiry_id == Inquiry.id,
            ApplicationOutcome.recorded_at <= bindparam("now"),
        ),
    )
    .where(
        Inquiry.borrower == bindparam("borrower"),
        Inquiry.purpose == Purpose.NEW_CREDIT,
        Inquiry.lender_id != bindparam("caller"),
        Inquiry.created_at >= bindparam("since"),
        Inquiry.created_at <= bindparam("now"),
        or_(
            Inquiry.created_at >= bindparam("inquiring_since"),
            and_(
                ApplicationOutcome.outcome == Outcome.APPROVED,
                ApplicationOutcome.recorded_at >= bindparam("provisional_since"),
            ),
        ),
    )
)


def read_applications(
    session: Session, borrower: bytes, caller_id: int, now: datetime, provisional_days: int
) -> list[Application]:
    """Other lenders' applications within the widest window, and older ones approved
    within `provisional_days` (one statement)."""
    inquiring_since = now - WIDEST_WINDOW
    provisional_since = now - timedelta(days=provisional_days)
    since = min(inquiring_since, provisional_since - timedelta(days=OUTCOME_WINDOW_DAYS))
    connection = core(session)
    rows = connection.execute(
        _APPLICATIONS,
        {
            "borrower": borrower,
            "caller": caller_id,
            "now": now,
            "since": since,
            "inquiring_since": inquiring_since,
            "provisional_since": provisional_since,
        },
    ).tuples()
    return [
        Application(
            lender_id=lender_id,
            inquired_at=inquired_at,
            amount_requested=requested,
            currency=currency,
            outcome=outcome,
            loan_ref=loan_ref,
            amount=amount,
            amount_currency=amount_currency,
            recorded_at=recorded_at,
        )
        for (
            lender_id,
            inquired_at,
            requested,
            currency,
            outcome,
            loan_ref,
            amount,
            amount_currency,
            recorded_at,
        ) in rows
    ]


def inquiring(applications: Iterable[Application], now: datetime) -> dict[str, int]:
    """Distinct other lenders that asked in each window."""
    latest: dict[int, datetime] = {}
    for application in applications:
        seen = latest.get(application.lender_id)
        if seen is None or application.inquired_at > seen:
            latest[application.lender_id] = application.inquired_at
    return {
        name: sum(1 for at in latest.values() if at >= now - width)
        for name, width in WINDOWS.items()
    }


def pending(applications: Iterable[Application], now: datetime) -> tuple[int, dict[str, int]]:
    """Applications of the last 7 days without an outcome, and their amounts per currency."""
    count = 0
    amounts: dict[str, int] = defaultdict(int)
    for application in applications:
        if application.outcome is None and application.inquired_at >= now - PENDING_WINDOW:
            count += 1
            if application.amount_requested is not None and application.currency is not None:
                amounts[application.currency] += application.amount_requested
    return count, dict(sorted(amounts.items()))


def provisional_loans(
    applications: Iterable[Application],
    book: Iterable[LoanRow],
    now: datetime,
    provisional_days: int,
) -> list[LoanRow]:
    """The approvals still provisional, as loan rows (status `provisional`): one per lender
    and loan_ref (the latest approval), none whose loan is in the book."""
    reported = {(loan.lender_id, loan.loan_ref) for loan in book}
    since = now - timedelta(days=provisional_days)
    latest: dict[tuple[int, str], Application] = {}
    for application in applications:
        recorded_at, loan_ref = application.recorded_at, application.loan_ref
        if (
            application.outcome != Outcome.APPROVED
            or recorded_at is None
            or loan_ref is None
            or recorded_at < since
            or (application.lender_id, loan_ref) in reported
        ):
            continue
        key = (application.lender_id, loan_ref)
        kept = latest.get(key)
        if kept is None or (kept.recorded_at is not None and recorded_at > kept.recorded_at):
            latest[key] = application
    return [_as_loan(application, provisional_days) for application in latest.values()]


def _as_loan(approval: Application, provisional_days: int) -> LoanRow:
    """A provisional loan as the report shows it: the approved amount outstanding (and as its
    limit), nothing past due, opened and last reported on the approval's date."""
    assert approval.recorded_at is not None and approval.loan_ref is not None
    amount = approval.amount or 0
    return LoanRow(
        lender_id=approval.lender_id,
        loan_ref=approval.loan_ref,
        product=None,
        currency=approval.amount_currency or "",
        credit_limit=amount,
        outstanding=amount,
        amount_past_due=0,
        days_past_due=0,
        status=PROVISIONAL,
        special_event=None,
        opened_on=approval.recorded_at.date(),
        closed_on=None,
        as_of=approval.recorded_at,
        scheduled_payment=None,
        payment_frequency=None,
        written_off_amount=None,
        written_off_on=None,
        exited_at=None,
        provisional_until=provisional_until(approval.recorded_at, provisional_days),
    )
