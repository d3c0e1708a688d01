"""Give to get: a lender may make `new_credit` inquiries only while it gives data back.

A lender is in good standing when it has at least one loan on file and an upload of its was
accepted (at least one record accepted or confirmed unchanged) within the last
`reciprocity_days` (policy, default 35; a report exactly that long ago still counts), or while
the operator has exempted it (`lenders.reciprocity_exempt_until` later than now: onboarding,
before it has a book to report). `account_review` inquiries are not concerned.

The check sits on the inquiry's hot path: an exempt lender costs nothing (its row is already
loaded by authentication); otherwise one statement answers the setting, the latest accepted
upload (the `(lender_id, created_at)` index, read backwards) and whether any loan is on file
(the `(lender_id, loan_ref)` index), each stopping at its first row.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy import Row, bindparam, exists, func, select
from sqlalchemy.orm import Session

from registry.db import core
from registry.models import Inquiry, Lender, Loan, PolicyRule, Purpose, Submission
from registry.services import audit
from registry.services.errors import NotPermitted
from registry.services.policy import RECIPROCITY_DAYS, spec_for

PROBLEM_SLUG = "reciprocity"


class ReciprocityRefused(NotPermitted):
    """A `new_credit` inquiry from a lender not in good standing; the message says what to do."""


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Standing:
    """A lender's give-to-get position at `now`."""

    now: datetime
    reciprocity_days: int
    exempt_until: datetime | None
    last_reported_at: datetime | None  # the latest accepted upload
    has_loans: bool

    @property
    def exempt(self) -> bool:
        return self.exempt_until is not None and self.now < self.exempt_until

    @property
    def reported_recently(self) -> bool:
        since = self.now - timedelta(days=self.reciprocity_days)
        return self.last_reported_at is not None and self.last_reported_at >= since

    @property
    def allowed(self) -> bool:
        return self.exempt or (self.has_loans and self.reported_recently)

    def refusal(self, code: str) -> str | None:
        """Why `new_credit` inquiries are refused, and what to do; None if they are not."""
        if self.allowed:
            return None
        advice = (
            "Upload your loan book (POST /v1/loans, or lender-client upload), then ask again; "
            "a new member can ask the registry's operator for an onboarding exemption."
        )
        if not self.has_loans:
            return f"give to get: {code} has no loans on file with the registry. {advice}"
        if self.last_reported_at is None:
            return f"give to get: {code} has no accepted upload on file. {advice}"
        return (
            f"give to get: {code} last reported on {self.last_reported_at.date().isoformat()}, "
            f"more than {self.reciprocity_days} days ago (reciprocity_days). Report your "
            "loans' current state (POST /v1/loans, or lender-client upload), then ask again."
        )


# Built once (the inquiry's hot path); `lender_id` is bound at each call.
_LATEST_UPLOAD = (
    select(Submission.created_at)
    .where(
        Submission.lender_id == bindparam("lender_id"),
        (Submission.accepted > 0) | (Submission.unchanged > 0),
    )
    .order_by(Submission.created_at.desc())
    .limit(1)
    .scalar_subquery()
)
_STANDING = select(
    select(PolicyRule.threshold).where(PolicyRule.code == RECIPROCITY_DAYS).scalar_subquery(),
    _LATEST_UPLOAD,
    exists().where(Loan.lender_id == bindparam("lender_id")),
)


def _read(session: Session, lender_id: int) -> Row[tuple[int | None, datetime | None, bool]]:
    return core(session).execute(_STANDING, {"lender_id": lender_id}).one()


def standing(session: Session, lender: Lender, now: datetime) -> Standing:
    """`lender`'s give-to-get position at `now` (one statement)."""
    days, last_reported_at, has_loans = _read(session, lender.id)
    return Standing(
        now=now,
        reciprocity_days=days if days is not None else spec_for(RECIPROCITY_DAYS).default,
        exempt_until=_utc(lender.reciprocity_exempt_until),
        last_reported_at=_utc(last_reported_at),
        has_loans=bool(has_loans),
    )


class StandingCache(Protocol):
    """Where `check` may keep a lender's good standing for a few seconds (`registry.hot_cache`)."""

    def peek(self, key: Hashable) -> Standing | None: ...

    def put(self, key: Hashable, value: Standing) -> None: ...


def check(
    session: Session,
    lender: Lender,
    purpose: Purpose,
    now: datetime,
    cache: StandingCache | None = None,
) -> None:
    """Refuse (ReciprocityRefused) a `new_credit` inquiry from a lender not in good standing.
    An exempt lender, or any other purpose, costs no statement. With a `cache`, a good
    standing read a moment ago is judged again at `now` without a statement (only a good one
    is kept: a refused lender that has just uploaded is let in at once)."""
    if purpose != Purpose.NEW_CREDIT:
        return
    until = _utc(lender.reciprocity_exempt_until)
    if until is not None and now < until:
        return
    kept = cache.peek(lender.id) if cache is not None else None
    position = replace(kept, now=now) if kept is not None else standing(session, lender, now)
    refusal = position.refusal(lender.code)
    if refusal is not None:
        raise ReciprocityRefused(refusal)
    if cache is not None and kept is None:
        cache.put(lender.id, position)


def set_exemption(
    session: Session,
    lender: Lender,
    until: datetime | None,
    now: datetime,
    actor: audit.Actor | None = None,
) -> bool:
    """Exempt `lender` from give to get until `until`. None, or a moment already past, ends a
    current exemption (None: now). Audited when given an `actor`; False (and no event) when
    nothing changes."""
    if until is not None and until.tzinfo is None:
        raise ValueError("an exemption ends at an aware datetime")
    before = _utc(lender.reciprocity_exempt_until)
    exempt_now = before is not None and now < before
    ending = until is None or until <= now
    if (ending and not exempt_now) or before == until:
        return False  # nothing to end, or no change
    lender.reciprocity_exempt_until = until
    lender.updated_at = now
    session.flush()
    if actor is not None:
        audit.record(
            session,
            actor,
            "lender_exemption_ended" if ending else "lender_exempted",
            now,
            lender.code,
            {
                "until": until.isoformat() if until is not None else None,
                "before": before.isoformat() if before is not None else None,
            },
        )
    return True


@dataclass(frozen=True)
class LenderReciprocity:
    """What the console shows of a lender's give and take."""

    standing: Standing
    new_credit_inquiries: int  # in the last `reciprocity_days`
    loans_on_file: int

    @property
    def inquiries_per_loan(self) -> float | None:
        if not self.loans_on_file:
            return None
        return round(self.new_credit_inquiries / self.loans_on_file, 2)


def lender_reciprocity(session: Session, lender: Lender, now: datetime) -> LenderReciprocity:
    """`lender`'s standing, its `new_credit` inquiries over the last `reciprocity_days` and
    its loans on file (every status), for the console's lender page."""
    position = standing(session, lender, now)
    since = now - timedelta(days=position.reciprocity_days)
    inquiries = session.scalar(
        select(func.count())
        .select_from(Inquiry)
        .where(
            Inquiry.lender_id == lender.id,
            Inquiry.created_at >= since,
            Inquiry.purpose == Purpose.NEW_CREDIT.value,
        )
    )
    loans = session.scalar(
        select(func.count()).select_from(Loan).where(Loan.lender_id == lender.id)
    )
    return LenderReciprocity(position, inquiries or 0, loans or 0)
