"""Per-lender figures for the console: the lenders table, one lender's statistics and its
data-quality score (QUALITY_FORMULA), each from a few grouped reads."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from registry.models import ApiKey, Inquiry, Lender, Loan, LoanStatus, Submission
from registry.services.dashboard.applications import ExpiredProvisional, expired_provisional
from registry.services.disputes import overdue_disputes
from registry.services.lenders import open_loans_by_lender
from registry.services.loan_report import OVERDUE_GRACE_DAYS
from registry.services.policy import load_policy
from registry_protocol.wire import SpecialEvent

QUALITY_WINDOW_DAYS = 30
# Rejection details are read from at most this many recent submissions of one lender.
REJECTION_SAMPLE = 200

# Points off the score for each dispute past its deadline unanswered.
OVERDUE_DISPUTE_POINTS = 10
QUALITY_FORMULA = (
    "score = 100 x (0.5 x A + 0.1 x (1 - S) + 0.1 x F + 0.1 x (1 - W) + 0.1 x (1 - T) "
    "+ 0.1 x (1 - P)), "
    f"where, over the submissions of the last {QUALITY_WINDOW_DAYS} days, A = 1 - rejected / "
    "records (the share of records not rejected), S = stale / records (the share of records "
    "older than what the registry holds), F = max(0, 1 - days since the last report / "
    f"{QUALITY_WINDOW_DAYS}) (freshness); and, over the lender's open loans now, W = the "
    f"share whose latest report is more than {OVERDUE_GRACE_DAYS} days past its due_on with "
    "no day past due and no 'extended' event (the ingest's consistency warning), T = the "
    "share whose latest report is older than the policy's stale_after_days (stale loans); "
    "and, over the lender's approved applications whose provisional_days (policy) are over, "
    "P = the share it never followed with a loan of that loan_ref for that borrower (expired "
    "provisional loans; 0 when none is due). A rejected record identical to one the lender "
    "had rejected before counts once. Then, for each dispute of its records past its deadline "
    f"unanswered (D), {OVERDUE_DISPUTE_POINTS} points off (never below 0). No submission in "
    "the window: no score."
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
            last_report_at=aware(last_report.get(lender.id)),
            open_loans=open_loans.get(lender.id, 0),
            inquiries_30d=inquiries.get(lender.id, 0),
        )
        for lender in session.scalars(select(Lender).order_by(Lender.code))
    ]


def aware(value: Any) -> datetime | None:
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
    open_loans: int = 0
    warned_open_loans: int = 0  # open loans whose latest report draws the overdue warning
    stale_open_loans: int = 0  # open loans whose latest report is older than the policy says
    approvals_due: int = 0  # approved applications whose provisional days are over
    expired_provisional: int = 0  # of those, the ones never followed by their loan
    overdue_disputes: int = 0  # disputes of its records past their deadline unanswered
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
    provisional: ExpiredProvisional | None = None


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
    last_report_at = aware(
        session.scalar(
            select(func.max(Submission.created_at)).where(Submission.lender_id == lender.id)
        )
    )
    since = now - timedelta(days=QUALITY_WINDOW_DAYS)
    totals = session.execute(
        select(
            func.count(),
            # A record rejected again, identical, counts once (reporting.py tells repeats).
            func.coalesce(func.sum(Submission.records - Submission.repeated_rejections), 0),
            func.coalesce(func.sum(Submission.accepted), 0),
            func.coalesce(func.sum(Submission.unchanged), 0),
            func.coalesce(func.sum(Submission.stale), 0),
            func.coalesce(func.sum(Submission.rejected - Submission.repeated_rejections), 0),
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
    policy = load_policy(session)
    _open_loan_quality(session, lender, now, quality, policy.stale_after_days)
    provisional = expired_provisional(session, lender.id, now, policy.provisional_days)
    quality.approvals_due, quality.expired_provisional = provisional.due, provisional.expired
    quality.overdue_disputes = overdue_disputes(session, lender.id, now)
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
        provisional=provisional,
    )


def data_quality_score(quality: Quality) -> tuple[int | None, dict[str, float]]:
    """The score of QUALITY_FORMULA, 0-100, and its parts (A, S, F, W, T, P; D the count of
    overdue disputes)."""
    if quality.submissions == 0 or quality.records == 0:
        return None, {}
    a = 1 - quality.rejected / quality.records
    s = quality.stale / quality.records
    days = quality.days_since_last_report or 0
    f = max(0.0, 1 - days / QUALITY_WINDOW_DAYS)
    w = quality.warned_open_loans / quality.open_loans if quality.open_loans else 0.0
    t = quality.stale_open_loans / quality.open_loans if quality.open_loans else 0.0
    p = quality.expired_provisional / quality.approvals_due if quality.approvals_due else 0.0
    score = 0.5 * a + 0.1 * (1 - s) + 0.1 * f + 0.1 * (1 - w) + 0.1 * (1 - t) + 0.1 * (1 - p)
    overdue = quality.overdue_disputes
    parts = {"A": a, "S": s, "F": f, "W": w, "T": t, "P": p, "D": float(overdue)}
    return max(0, round(100 * score) - OVERDUE_DISPUTE_POINTS * overdue), parts


def _open_loan_quality(
    session: Session, lender: Lender, now: datetime, quality: Quality, stale_after_days: int
) -> None:
    """The lender's open loans now: how many, how many stale (latest as_of older than the
    policy's stale_after_days) and how many whose latest report draws the ingest's overdue
    warning. Two reads: one count, and the few open loans past their due date with no day
    past due (the warning's test is then the ingest's own, in Python, on both backends)."""
    stale_before = now - timedelta(days=stale_after_days)
    is_stale = case((Loan.as_of < stale_before, 1), else_=0)
    opened, stale = session.execute(
        select(func.count(), func.coalesce(func.sum(is_stale), 0)).where(
            Loan.lender_id == lender.id, Loan.status == LoanStatus.OPEN
        )
    ).one()
    quality.open_loans, quality.stale_open_loans = int(opened), int(stale)
    overdue = session.execute(
        select(Loan.due_on, Loan.as_of, Loan.special_event).where(
            Loan.lender_id == lender.id,
            Loan.status == LoanStatus.OPEN,
            Loan.days_past_due == 0,
            Loan.due_on < (now - timedelta(days=OVERDUE_GRACE_DAYS)).date(),
        )
    )
    quality.warned_open_loans = sum(
        1
        for due_on, as_of, event in overdue
        if event != SpecialEvent.EXTENDED
        and as_of.date() > due_on + timedelta(days=OVERDUE_GRACE_DAYS)
    )


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
