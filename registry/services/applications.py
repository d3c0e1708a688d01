"""Applications and their outcomes.

Every `new_credit` inquiry is an application; the lender that made it records what came of it
(`record_outcome`): approved (with the loan's reference, amount and currency), declined or
withdrawn. Rules:
- only the inquiring lender may record it (any other caller, or an unknown id: not found),
  and only for a `new_credit` inquiry;
- at most 30 days after the inquiry (`OUTCOME_WINDOW_DAYS`, the boundary included);
- at most one outcome per inquiry: the same outcome again (the same fields) is answered as the
  first time; a different one is a conflict. Two concurrent calls settle on one row (the
  insert does nothing on a conflict, then the stored row decides).

An approved outcome is a provisional loan while `recorded_at + provisional_days` has not
passed and its lender has not reported a loan with that `loan_ref` for that borrower (a rule
applied when reading, so the order in which outcome and loan arrive does not matter; see
`registry.services.report`). One that expires unreported counts against its lender
(`expired_provisional_loans`). The caller owns the unit of work: this module flushes only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction

from sqlalchemy import Exists, and_, exists, func, select
from sqlalchemy.orm import Session

from registry.db import upsert
from registry.models import ApplicationOutcome, Inquiry, Loan, Outcome, Purpose
from registry.services.errors import Conflict, FieldError, InvalidInput, NotFound
from registry.services.lenders import hold_lender
from registry.services.policy import load_policy

__all__ = [
    "OUTCOME_WINDOW_DAYS",
    "OutcomeRate",
    "OutcomeRequest",
    "RecordedOutcome",
    "check_outcome",
    "expired_provisional_loans",
    "outcome_rate",
    "provisional_until",
    "record_outcome",
]

OUTCOME_WINDOW_DAYS = 30
_APPROVED_FIELDS = ("loan_ref", "amount", "currency")
_NOT_FOUND = "no new_credit inquiry of yours with that inquiry_id"


@dataclass(frozen=True)
class OutcomeRequest:
    outcome: Outcome
    loan_ref: str | None = None
    amount: int | None = None  # minor units, > 0
    currency: str | None = None

    def fields(self) -> tuple[str, str | None, int | None, str | None]:
        """What decides "the same outcome again"."""
        return (str(self.outcome), self.loan_ref, self.amount, self.currency)


@dataclass(frozen=True)
class RecordedOutcome:
    """An inquiry's outcome as stored, and whether this call stored it."""

    inquiry_id: str
    outcome: Outcome
    loan_ref: str | None
    amount: int | None
    currency: str | None
    inquired_at: datetime
    recorded_at: datetime
    provisional_until: datetime | None  # approved only
    created: bool


def provisional_until(recorded_at: datetime, provisional_days: int) -> datetime:
    """The last moment an approved outcome shows as a provisional loan (included)."""
    return recorded_at + timedelta(days=provisional_days)


def check_outcome(request: OutcomeRequest) -> list[FieldError]:
    """The rules between the fields: an approval names its loan, nothing else does."""
    values = {"loan_ref": request.loan_ref, "amount": request.amount, "currency": request.currency}
    if request.outcome == Outcome.APPROVED:
        return [
            FieldError(name, "required when outcome is approved")
            for name in _APPROVED_FIELDS
            if values[name] is None
        ]
    return [
        FieldError(name, f"must be absent when outcome is {request.outcome}")
        for name in _APPROVED_FIELDS
        if values[name] is not None
    ]


def record_outcome(
    session: Session,
    caller_id: int,
    inquiry_id: str,
    request: OutcomeRequest,
    now: datetime,
    provisional_days: int | None = None,
) -> RecordedOutcome:
    """Record what came of lender `caller_id`'s inquiry `inquiry_id` (see the module's rules).

    Raises InvalidInput (fields, an account_review inquiry, too late), NotFound (not the
    caller's new_credit inquiry) or Conflict (another outcome already recorded)."""
    errors = check_outcome(request)
    if errors:
        raise InvalidInput("the outcome is invalid", errors)
    if provisional_days is None:
        provisional_days = load_policy(session).provisional_days
    if not 1 <= len(inquiry_id) <= 36 or not inquiry_id.isprintable():
        raise NotFound(_NOT_FOUND)
    hold_lender(session, caller_id)  # read the inquiry's token after any retire, not during
    inquiry = session.execute(
        select(Inquiry.borrower, Inquiry.purpose, Inquiry.created_at, Inquiry.borrower_next).where(
            Inquiry.lender_id == caller_id, Inquiry.id == inquiry_id
        )
    ).first()
    if inquiry is None:
        raise NotFound(_NOT_FOUND)
    borrower, purpose, inquired_at, borrower_next = inquiry
    if purpose != Purpose.NEW_CREDIT:
        raise InvalidInput(
            "only a new_credit inquiry (an application) has an outcome",
            [FieldError("inquiry_id", f"is a {purpose} inquiry, not new_credit")],
        )
    stored = _stored(session, borrower, inquiry_id)
    if stored is None:
        if now > inquired_at + timedelta(days=OUTCOME_WINDOW_DAYS):
            raise InvalidInput(
                "too late for an outcome",
                [
                    FieldError(
                        "outcome",
                        f"must be recorded within {OUTCOME_WINDOW_DAYS} days of the inquiry "
                        f"(made {inquired_at.isoformat()})",
                    )
                ],
            )
        statement = upsert(session, ApplicationOutcome.__table__)  # type: ignore[arg-type]
        inserted = session.scalar(
            statement.values(
                borrower=borrower,
                inquiry_id=inquiry_id,
                lender_id=caller_id,
                outcome=str(request.outcome),
                loan_ref=request.loan_ref,
                amount=request.amount,
                currency=request.currency,
                inquired_at=inquired_at,
                recorded_at=now,
                borrower_next=borrower_next,
            )
            .on_conflict_do_nothing(index_elements=["borrower", "inquiry_id"])
            .returning(statement.table.c.inquiry_id)
        )
        if inserted is not None:
            return _recorded(
                inquiry_id, request.fields(), inquired_at, now, provisional_days, created=True
            )
        # A concurrent call got there first (PostgreSQL waited for it to commit).
        stored = _stored(session, borrower, inquiry_id)
        assert stored is not None
    fields, recorded_at = stored
    if fields != request.fields():
        other = "" if fields[0] != request.outcome else " with other loan_ref, amount or currency"
        raise Conflict(
            f"this inquiry already has the outcome {fields[0]!r}{other} (recorded "
            f"{recorded_at.isoformat()}); an outcome is recorded once"
        )
    return _recorded(inquiry_id, fields, inquired_at, recorded_at, provisional_days, created=False)


def _stored(
    session: Session, borrower: bytes, inquiry_id: str
) -> tuple[tuple[str, str | None, int | None, str | None], datetime] | None:
    row = session.execute(
        select(
            ApplicationOutcome.outcome,
            ApplicationOutcome.loan_ref,
            ApplicationOutcome.amount,
            ApplicationOutcome.currency,
            ApplicationOutcome.recorded_at,
        ).where(
            ApplicationOutcome.borrower == borrower, ApplicationOutcome.inquiry_id == inquiry_id
        )
    ).first()
    if row is None:
        return None
    outcome, loan_ref, amount, currency, recorded_at = row
    return (outcome, loan_ref, amount, currency), recorded_at


def _recorded(
    inquiry_id: str,
    fields: tuple[str, str | None, int | None, str | None],
    inquired_at: datetime,
    recorded_at: datetime,
    provisional_days: int,
    *,
    created: bool,
) -> RecordedOutcome:
    outcome, loan_ref, amount, currency = fields
    approved = outcome == Outcome.APPROVED
    return RecordedOutcome(
        inquiry_id=inquiry_id,
        outcome=Outcome(outcome),
        loan_ref=loan_ref,
        amount=amount,
        currency=currency,
        inquired_at=inquired_at,
        recorded_at=recorded_at,
        provisional_until=provisional_until(recorded_at, provisional_days) if approved else None,
        created=created,
    )


def _reported() -> Exists:
    """Whether the outcome's lender holds a loan with its loan_ref for its borrower."""
    return exists().where(
        Loan.borrower == ApplicationOutcome.borrower,
        Loan.lender_id == ApplicationOutcome.lender_id,
        Loan.loan_ref == ApplicationOutcome.loan_ref,
    )


def expired_provisional_loans(
    session: Session, lender_id: int, now: datetime, provisional_days: int
) -> int:
    """The lender's approved outcomes past their provisional days (recorded before
    now - provisional_days) whose loan it never reported for that borrower: approvals it
    announced and did not follow with the loan (a data-quality failing)."""
    count = session.scalar(
        select(func.count())
        .select_from(ApplicationOutcome)
        .where(
            ApplicationOutcome.lender_id == lender_id,
            ApplicationOutcome.outcome == Outcome.APPROVED,
            ApplicationOutcome.recorded_at < now - timedelta(days=provisional_days),
            ~_reported(),
        )
    )
    return int(count or 0)


@dataclass(frozen=True)
class OutcomeRate:
    """A lender's new_credit inquiries in a period, and how many have each outcome."""

    inquiries: int
    approved: int = 0
    declined: int = 0
    withdrawn: int = 0

    @property
    def with_outcome(self) -> int:
        return self.approved + self.declined + self.withdrawn

    @property
    def share(self) -> Fraction | None:
        """with_outcome / inquiries; None without inquiries."""
        return Fraction(self.with_outcome, self.inquiries) if self.inquiries else None


def outcome_rate(session: Session, lender_id: int, since: datetime, now: datetime) -> OutcomeRate:
    """Lender `lender_id`'s new_credit inquiries made from `since` to `now` (both included),
    counted by their outcome (recorded at any time up to now)."""
    rows = session.execute(
        select(ApplicationOutcome.outcome, func.count())
        .select_from(Inquiry)
        .outerjoin(
            ApplicationOutcome,
            and_(
                ApplicationOutcome.borrower == Inquiry.borrower,
                ApplicationOutcome.inquiry_id == Inquiry.id,
                ApplicationOutcome.recorded_at <= now,
            ),
        )
        .where(
            Inquiry.lender_id == lender_id,
            Inquiry.purpose == Purpose.NEW_CREDIT,
            Inquiry.created_at >= since,
            Inquiry.created_at <= now,
        )
        .group_by(ApplicationOutcome.outcome)
    ).tuples()
    counts = {outcome: int(count) for outcome, count in rows}
    return OutcomeRate(
        inquiries=sum(counts.values()),
        approved=counts.get(Outcome.APPROVED, 0),
        declined=counts.get(Outcome.DECLINED, 0),
        withdrawn=counts.get(Outcome.WITHDRAWN, 0),
    )
