"""Account reviews per lender: how many `account_review` inquiries (no consent asked) each
lender made, and the lenders whose volume in the last week is large against their open book,
which is what monitoring borrowers without their consent would look like."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry.models import Inquiry, Lender, Loan, LoanStatus, Purpose

REVIEW_WINDOW_DAYS = 7
# Listed when a week's reviews reach this share of the lender's open loans, and this many:
# a lender reviewing a quarter of its book in a week, or reviewing borrowers it barely holds.
SPIKE_SHARE = 0.25
SPIKE_MINIMUM = 20


@dataclass(frozen=True)
class ReviewSpike:
    code: str
    name: str
    reviews: int  # account_review inquiries in the window
    open_loans: int

    @property
    def share(self) -> float:
        return self.reviews / self.open_loans if self.open_loans else float("inf")


def inquiries_by_purpose(
    session: Session, lender_id: int, now: datetime, days: int = 30
) -> dict[str, int]:
    """The lender's inquiries in the last `days`, per purpose (by its lender index)."""
    counts = dict.fromkeys((p.value for p in Purpose), 0)
    for purpose, count in session.execute(
        select(Inquiry.purpose, func.count())
        .where(Inquiry.lender_id == lender_id, Inquiry.created_at >= now - timedelta(days=days))
        .group_by(Inquiry.purpose)
    ).tuples():
        counts[str(purpose)] = int(count)
    return counts


def review_spikes(session: Session, now: datetime) -> list[ReviewSpike]:
    """Lenders whose account reviews of the last REVIEW_WINDOW_DAYS reach SPIKE_SHARE of
    their open loans (and SPIKE_MINIMUM), most reviews first. Open loans are counted only
    for the lenders that reviewed at all."""
    reviews = dict(
        session.execute(
            select(Inquiry.lender_id, func.count())
            .where(
                Inquiry.purpose == Purpose.ACCOUNT_REVIEW,
                Inquiry.created_at >= now - timedelta(days=REVIEW_WINDOW_DAYS),
            )
            .group_by(Inquiry.lender_id)
            .having(func.count() >= SPIKE_MINIMUM)
        )
        .tuples()
        .all()
    )
    if not reviews:
        return []
    open_loans = dict(
        session.execute(
            select(Loan.lender_id, func.count())
            .where(Loan.lender_id.in_(reviews), Loan.status == LoanStatus.OPEN)
            .group_by(Loan.lender_id)
        )
        .tuples()
        .all()
    )
    names = session.execute(
        select(Lender.id, Lender.code, Lender.name).where(Lender.id.in_(reviews))
    ).tuples()
    spikes = [
        ReviewSpike(code, name, int(reviews[lender_id]), int(open_loans.get(lender_id, 0)))
        for lender_id, code, name in names
    ]
    return sorted(
        (s for s in spikes if s.reviews >= SPIKE_SHARE * s.open_loans),
        key=lambda s: (-s.reviews, s.code),
    )
