"""The dashboard's figures: the whole book's totals and the activity of the last 30 days.

Every figure is one aggregate query (GROUP BY in the database, never a query per row), so
that a page costs the same handful of statements with a thousand loans or a million.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, String, cast, func, select
from sqlalchemy.orm import Session

from registry.db import exact_total, split_sum
from registry.models import Inquiry, Lender, LenderStatus, Loan, LoanStatus, Submission
from registry.services.dashboard.applications import applications_per_day
from registry.services.policy import RULE_CODES

ACTIVITY_DAYS = 30
DISTRIBUTION_BUCKETS = ("1", "2", "3", "4", "5+")


def day_of(column: Any, dialect: str) -> ColumnElement[Any]:
    """The UTC calendar day of a timestamp column, as the database computes it."""
    if dialect == "postgresql":
        return func.date(func.timezone("UTC", column))
    return func.date(column)


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _days(now: datetime, days: int) -> list[date]:
    first = now.date() - timedelta(days=days - 1)
    return [first + timedelta(days=n) for n in range(days)]


@dataclass(frozen=True)
class BookTotals:
    """Whole-book figures: they scan every open loan, so the console shows them from a
    short-lived cache (`registry.totals_cache`) with the time they were computed."""

    loans_open: int
    borrowers_with_open_loans: int
    outstanding: dict[str, int]  # currency -> minor units, open loans
    # borrowers by the number of distinct lenders they owe: "1", "2", "3", "4", "5+"
    lender_distribution: dict[str, int]
    computed_at: datetime


@dataclass
class Overview:
    lenders_active: int
    lenders_total: int
    totals: BookTotals
    days: list[date]
    submissions_per_day: list[int]
    inquiries_per_day: list[int]
    flags_per_day: dict[str, list[int]]  # flag code -> count per day, same order as days
    # new_credit inquiries per day by outcome (OUTCOME_SERIES), same order as days
    applications_per_day: dict[str, list[int]] = field(default_factory=dict)

    # The templates' names for the book figures.
    @property
    def loans_open(self) -> int:
        return self.totals.loans_open

    @property
    def borrowers_with_open_loans(self) -> int:
        return self.totals.borrowers_with_open_loans

    @property
    def outstanding(self) -> dict[str, int]:
        return self.totals.outstanding

    @property
    def lender_distribution(self) -> dict[str, int]:
        return self.totals.lender_distribution


def book_totals(session: Session, now: datetime) -> BookTotals:
    """Open loans, borrowers, outstanding per currency and the over-indebtedness
    distribution: two aggregate reads over the open loans."""
    outstanding: dict[str, int] = {}
    loans_open = 0
    for currency, count, high, low in session.execute(
        select(Loan.currency, func.count(), *split_sum(Loan.outstanding))
        .where(Loan.status == LoanStatus.OPEN)
        .group_by(Loan.currency)
        .order_by(Loan.currency)
    ).tuples():
        loans_open += count
        outstanding[currency] = exact_total(high, low)

    # Distinct lenders with open loans per borrower, then borrowers per count. Written as
    # DISTINCT pairs, then a count per borrower, so that PostgreSQL streams it from the
    # partial index ix_loans_open_borrower_lender (in borrower order) without sorting.
    pairs = (
        select(Loan.borrower, Loan.lender_id)
        .where(Loan.status == LoanStatus.OPEN)
        .distinct()
        .subquery()
    )
    per_borrower = (
        select(pairs.c.borrower, func.count().label("lenders"))
        .group_by(pairs.c.borrower)
        .subquery()
    )
    distribution = dict.fromkeys(DISTRIBUTION_BUCKETS, 0)
    for lenders, borrowers in session.execute(
        select(per_borrower.c.lenders, func.count()).group_by(per_borrower.c.lenders)
    ).tuples():
        bucket = str(lenders) if lenders < 5 else "5+"
        distribution[bucket] += borrowers
    return BookTotals(loans_open, sum(distribution.values()), outstanding, distribution, now)


def overview(session: Session, now: datetime, totals: BookTotals | None = None) -> Overview:
    """The dashboard. `totals` from the app's `registry.totals_cache.TotalsCache`; computed
    here when not given."""
    dialect = session.get_bind().dialect.name
    lender_counts = dict(
        session.execute(select(Lender.status, func.count()).group_by(Lender.status)).tuples().all()
    )
    if totals is None:
        totals = book_totals(session, now)

    days = _days(now, ACTIVITY_DAYS)
    since = datetime.combine(days[0], datetime.min.time(), tzinfo=now.tzinfo)
    index = {d: n for n, d in enumerate(days)}
    submissions = [0] * len(days)
    sub_day = day_of(Submission.created_at, dialect)
    for day, count in session.execute(
        select(sub_day, func.count()).where(Submission.created_at >= since).group_by(sub_day)
    ).tuples():
        if _as_date(day) in index:
            submissions[index[_as_date(day)]] = count

    # One read gives both inquiries per day and flags per day: group by the flag list as
    # text (a few dozen distinct combinations at most), then count each code in Python.
    inquiries = [0] * len(days)
    flags: dict[str, list[int]] = {code: [0] * len(days) for code in RULE_CODES}
    inq_day = day_of(Inquiry.created_at, dialect)
    flag_text = cast(Inquiry.flags, String)
    for day, raw_flags, count in session.execute(
        select(inq_day, flag_text, func.count())
        .where(Inquiry.created_at >= since)
        .group_by(inq_day, flag_text)
    ).tuples():
        position = index.get(_as_date(day))
        if position is None:
            continue
        inquiries[position] += count
        for code in json.loads(raw_flags or "[]"):
            flags.setdefault(code, [0] * len(days))[position] += count

    return Overview(
        lenders_active=lender_counts.get(LenderStatus.ACTIVE, 0),
        lenders_total=sum(lender_counts.values()),
        totals=totals,
        days=days,
        submissions_per_day=submissions,
        inquiries_per_day=inquiries,
        flags_per_day=flags,
        applications_per_day=applications_per_day(session, days, since, inq_day),
    )
