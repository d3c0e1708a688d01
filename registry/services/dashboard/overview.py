"""Figures for the operator console: the dashboard, per-lender statistics, data quality.

Every figure is one aggregate query (GROUP BY in the database, never a query per row), so
that a page costs the same handful of statements with a thousand loans or a million.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, String, cast, func, select
from sqlalchemy.orm import Session

from registry.models import (
    ApiKey,
    Inquiry,
    Lender,
    LenderStatus,
    Loan,
    LoanStatus,
    PolicyRule,
    Submission,
)
from registry.services.lenders import open_loans_by_lender
from registry.services.policy import RULE_CODES, RULES

log = logging.getLogger(__name__)

ACTIVITY_DAYS = 30
DISTRIBUTION_BUCKETS = ("1", "2", "3", "4", "5+")
QUALITY_WINDOW_DAYS = 30
# Rejection details are read from at most this many recent submissions of one lender.
REJECTION_SAMPLE = 200

QUALITY_FORMULA = (
    "score = 100 x (0.6 x A + 0.2 x (1 - S) + 0.2 x F), where, over the submissions of the "
    f"last {QUALITY_WINDOW_DAYS} days, A = 1 - rejected / records (the share of records not "
    "rejected), S = stale / records (the share of records older than what the registry "
    f"holds), and F = max(0, 1 - days since the last report / {QUALITY_WINDOW_DAYS}) "
    "(freshness). No submission in the window: no score."
)


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
    short-lived cache (`TotalsCache`) with the time they were computed."""

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
    for currency, count, amount in session.execute(
        select(Loan.currency, func.count(), func.sum(Loan.outstanding))
        .where(Loan.status == LoanStatus.OPEN)
        .group_by(Loan.currency)
        .order_by(Loan.currency)
    ).tuples():
        loans_open += count
        outstanding[currency] = int(amount or 0)

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


class TotalsCache:
    """`book_totals`, at most `max_age` old, refreshed without making a page wait.

    A request finds the figures computed; once they are older than `max_age`, it still
    gets them at once and one background thread (per process) computes fresh ones. Only
    the very first request of a process computes while it waits. `max_age` 0: always live.
    """

    def __init__(
        self,
        sessions: Callable[[], Session],
        clock: Callable[[], datetime],
        max_age: timedelta,
        background: bool = True,
    ) -> None:
        self._sessions, self._clock = sessions, clock
        self.max_age, self.background = max_age, background
        self._value: BookTotals | None = None
        self._lock = threading.Lock()
        self._refreshing = False

    @property
    def held(self) -> BookTotals | None:
        """The figures in memory, however old, without computing any."""
        return self._value

    def get(self) -> BookTotals:
        value = self._value
        if value is None or not self.max_age:
            return self.refresh()
        if self._clock() - value.computed_at >= self.max_age:
            if self.background:
                self.refresh_in_background()
            else:
                return self.refresh()
        return value

    def refresh(self) -> BookTotals:
        with self._sessions() as session:
            value = book_totals(session, self._clock())
        self._value = value
        return value

    def refresh_in_background(self) -> None:
        with self._lock:
            if self._refreshing:
                return
            self._refreshing = True

        def work() -> None:
            try:
                self.refresh()
            except Exception:  # the next request tries again; the page keeps the old figures
                log.exception("refreshing the dashboard totals failed")
            finally:
                self._refreshing = False

        threading.Thread(target=work, name="dashboard-totals", daemon=True).start()


def overview(session: Session, now: datetime, totals: BookTotals | None = None) -> Overview:
    """The dashboard. `totals` from a `TotalsCache`; computed here when not given."""
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
    )


@dataclass(frozen=True)
class LenderRow:
    code: str
    name: str
    status: str
    active_keys: int
    last_report_at: datetime | None
    open_loans: int
    inquiries_30d: int


def lender_table(session: Session, now: datetime) -> list[LenderRow]:
    """Every lender with its status, last report, open loans and inquiries in 30 days:
    four grouped reads, whatever the number of lenders."""
    open_loans = open_loans_by_lender(session)
    last_report = dict(
        session.execute(
            select(Submission.lender_id, func.max(Submission.created_at)).group_by(
                Submission.lender_id
            )
        )
        .tuples()
        .all()
    )
    inquiries = dict(
        session.execute(
            select(Inquiry.lender_id, func.count())
            .where(Inquiry.created_at >= now - timedelta(days=30))
            .group_by(Inquiry.lender_id)
        )
        .tuples()
        .all()
    )
    keys = dict(
        session.execute(
            select(ApiKey.lender_id, func.count())
            .where(ApiKey.revoked_at.is_(None))
            .group_by(ApiKey.lender_id)
        )
        .tuples()
        .all()
    )
    return [
        LenderRow(
            code=lender.code,
            name=lender.name,
            status=lender.status,
            active_keys=keys.get(lender.id, 0),
            last_report_at=_aware(last_report.get(lender.id)),
            open_loans=open_loans.get(lender.id, 0),
            inquiries_30d=inquiries.get(lender.id, 0),
        )
        for lender in session.scalars(select(Lender).order_by(Lender.code))
    ]


def _aware(value: Any) -> datetime | None:
    """max() over a UTC column comes back naive on SQLite (the type is not applied)."""
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True)
class SubmissionRow:
    id: str
    created_at: datetime
    records: int
    accepted: int
    unchanged: int
    stale: int
    rejected: int


@dataclass
class Quality:
    records: int = 0
    accepted: int = 0
    unchanged: int = 0
    stale: int = 0
    rejected: int = 0
    submissions: int = 0
    days_since_last_report: int | None = None
    score: int | None = None
    parts: dict[str, float] = field(default_factory=dict)


@dataclass
class LenderStats:
    code: str
    open_loans: int
    loans_total: int
    last_report_at: datetime | None
    quality: Quality
    history: list[SubmissionRow]
    history_total: int
    rejections_by_field: list[tuple[str, int, str]]  # field, count, an example message


def lender_stats(
    session: Session, lender: Lender, now: datetime, page: int = 1, per_page: int = 25
) -> LenderStats:
    loan_counts = dict(
        session.execute(
            select(Loan.status, func.count())
            .where(Loan.lender_id == lender.id)
            .group_by(Loan.status)
        )
        .tuples()
        .all()
    )
    last_report_at = _aware(
        session.scalar(
            select(func.max(Submission.created_at)).where(Submission.lender_id == lender.id)
        )
    )
    since = now - timedelta(days=QUALITY_WINDOW_DAYS)
    totals = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(Submission.records), 0),
            func.coalesce(func.sum(Submission.accepted), 0),
            func.coalesce(func.sum(Submission.unchanged), 0),
            func.coalesce(func.sum(Submission.stale), 0),
            func.coalesce(func.sum(Submission.rejected), 0),
        ).where(Submission.lender_id == lender.id, Submission.created_at >= since)
    ).one()
    quality = Quality(
        submissions=int(totals[0]),
        records=int(totals[1]),
        accepted=int(totals[2]),
        unchanged=int(totals[3]),
        stale=int(totals[4]),
        rejected=int(totals[5]),
    )
    if last_report_at is not None:
        quality.days_since_last_report = max(0, (now - last_report_at).days)
    quality.score, quality.parts = data_quality_score(quality)

    history_total = (
        session.scalar(select(func.count()).where(Submission.lender_id == lender.id)) or 0
    )
    history = [
        SubmissionRow(s.id, s.created_at, s.records, s.accepted, s.unchanged, s.stale, s.rejected)
        for s in session.scalars(
            select(Submission)
            .where(Submission.lender_id == lender.id)
            .order_by(Submission.created_at.desc(), Submission.id.desc())
            .limit(per_page)
            .offset((max(page, 1) - 1) * per_page)
        )
    ]
    return LenderStats(
        code=lender.code,
        open_loans=loan_counts.get(LoanStatus.OPEN, 0),
        loans_total=sum(loan_counts.values()),
        last_report_at=last_report_at,
        quality=quality,
        history=history,
        history_total=history_total,
        rejections_by_field=_rejections_by_field(session, lender, since),
    )


def data_quality_score(quality: Quality) -> tuple[int | None, dict[str, float]]:
    """The score of QUALITY_FORMULA, 0-100, and its parts (A, S, F)."""
    if quality.submissions == 0 or quality.records == 0:
        return None, {}
    a = 1 - quality.rejected / quality.records
    s = quality.stale / quality.records
    days = quality.days_since_last_report or 0
    f = max(0.0, 1 - days / QUALITY_WINDOW_DAYS)
    return round(100 * (0.6 * a + 0.2 * (1 - s) + 0.2 * f)), {"A": a, "S": s, "F": f}


def _rejections_by_field(
    session: Session, lender: Lender, since: datetime
) -> list[tuple[str, int, str]]:
    """Rejected records of the lender's recent submissions, counted by field (without the
    record index: `loans[3].due_on` counts as `due_on`)."""
    counts: Counter[str] = Counter()
    examples: dict[str, str] = {}
    responses = session.scalars(
        select(Submission.response)
        .where(
            Submission.lender_id == lender.id,
            Submission.created_at >= since,
            Submission.rejected > 0,
        )
        .order_by(Submission.created_at.desc())
        .limit(REJECTION_SAMPLE)
    )
    for response in responses:
        for rejection in response.get("rejected", []):
            for error in rejection.get("errors", []):
                name = str(error.get("field", "?"))
                name = name.split("].", 1)[1] if "]." in name else name
                counts[name] += 1
                examples.setdefault(name, str(error.get("message", "")))
    return [(name, count, examples[name]) for name, count in counts.most_common()]


@dataclass(frozen=True)
class RuleRow:
    code: str
    threshold: int
    enabled: bool
    meaning: str
    default: int
    updated_at: datetime | None


def policy_rows(session: Session) -> list[RuleRow]:
    """Every flag rule with its current threshold (the default when never set)."""
    stored = {rule.code: rule for rule in session.scalars(select(PolicyRule))}
    rows = []
    for spec in RULES:
        rule = stored.get(spec.code)
        rows.append(
            RuleRow(
                spec.code,
                rule.threshold if rule else spec.default,
                rule.enabled if rule else True,
                spec.meaning,
                spec.default,
                _aware(rule.updated_at) if rule else None,
            )
        )
    return rows


def lender_choices(session: Session) -> list[tuple[str, str]]:
    """(code, name) of every lender, for filter menus."""
    return list(session.execute(select(Lender.code, Lender.name).order_by(Lender.code)).tuples())
