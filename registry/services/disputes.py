"""Disputes: a borrower contests one of their records (a loan), through any member lender or
at the operator's desk, and the lender that reported it answers within `dispute_days`.

Rules:
- A lender opens a dispute through one of its own inquiries made within the last
  `INQUIRY_WINDOW_DAYS` (90) days (the boundary included), naming a tradeline label of that
  inquiry's stored report (`dispute_tradelines.place` finds the loan). The opener never
  learns whose loan it is: its answer names the dispute, the label and the deadline only.
- An operator opens one from the borrower page, naming the loan (its lender and reference).
- `due_at` = `opened_at` + `dispute_days` (the policy at opening). A dispute is overdue when it
  is open and now is past `due_at`: on `due_at` itself it is still within time.
- The same opener disputing the same loan again while its dispute is open gets that dispute
  back (a retry of a lost answer records nothing new); with another reason it is a conflict.
- Only the owning lender answers, once: `confirmed` (the record stands); `corrected` needs a
  correction of that loan sent since the dispute opened (a report with `"correction": true`,
  kept in `loan_corrections`; a plain newer report is the loan's next state, not a fix of
  the contested one); `retracted` needs the loan's retraction since it opened. A late
  answer is accepted (and shows as late: `answered_at` after `due_at`).
- Every step is audited (`dispute_opened`, `dispute_answered`), in the caller's unit of work.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, exists, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from registry.models import (
    Dispute,
    DisputeResolution,
    DisputeStatus,
    Inquiry,
    Lender,
    Loan,
    LoanCorrection,
    LoanRetraction,
)
from registry.services import audit
from registry.services.dispute_tradelines import place
from registry.services.errors import Conflict, FieldError, InvalidInput, NotFound
from registry.services.lenders import hold_lender
from registry.services.policy import load_policy

__all__ = [
    "INQUIRY_WINDOW_DAYS",
    "LIST_STATUSES",
    "MAX_NOTE",
    "MAX_REASON",
    "Opened",
    "answer",
    "check_text",
    "for_borrower",
    "get_for_lender",
    "is_overdue",
    "list_for_lender",
    "open_by_lender",
    "open_by_operator",
    "overdue_disputes",
    "status_condition",
]

INQUIRY_WINDOW_DAYS = 90
MAX_REASON = 500
MAX_NOTE = 500
# `open` lists every unanswered dispute, overdue ones included; `overdue` only those.
LIST_STATUSES = ("open", "overdue", "answered")
LIST_LIMIT = 1000


@dataclass(frozen=True)
class Opened:
    dispute: Dispute
    created: bool  # False: the same opener's open dispute of that loan, returned as it is


def is_overdue(dispute: Dispute, now: datetime) -> bool:
    return dispute.status == DisputeStatus.OPEN and now > dispute.due_at


def check_text(raw: object, name: str, limit: int, required: bool) -> str | None:
    """A free-text field: trimmed, printable, at most `limit` characters."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if required:
            raise InvalidInput(f"no {name}", [FieldError(name, "required")])
        return None
    if not isinstance(raw, str):
        raise InvalidInput(f"bad {name}", [FieldError(name, "must be text")])
    text = raw.strip()
    if not text.isprintable():
        raise InvalidInput(
            f"bad {name}", [FieldError(name, "must be printable text, without control characters")]
        )
    if len(text) > limit:
        raise InvalidInput(f"{name} too long", [FieldError(name, f"at most {limit} characters")])
    return text


def _lender_code(session: Session, lender_id: int) -> str:
    return session.scalar(select(Lender.code).where(Lender.id == lender_id)) or "?"


def _open_dispute(
    session: Session,
    *,
    borrower: bytes,
    lender_id: int,
    loan_ref: str,
    tradeline: str,
    reason: str,
    now: datetime,
    actor: audit.Actor,
    opened_by_lender_id: int | None = None,
    opened_by_operator_id: int | None = None,
    inquiry_id: str | None = None,
) -> Opened:
    same_opener = (
        Dispute.opened_by_lender_id == opened_by_lender_id
        if opened_by_lender_id is not None
        else Dispute.opened_by_lender_id.is_(None)  # the registry's desk, any operator
    )
    earlier = session.scalar(
        select(Dispute).where(
            Dispute.borrower == borrower,
            Dispute.lender_id == lender_id,
            Dispute.loan_ref == loan_ref,
            Dispute.status == DisputeStatus.OPEN,
            same_opener,
        )
    )
    if earlier is not None:
        if earlier.reason != reason:
            raise Conflict(
                f"that record is already under dispute {earlier.id} (opened "
                f"{earlier.opened_at.date().isoformat()}, due {earlier.due_at.date().isoformat()}) "
                "with another reason; it is answered before a new one is opened"
            )
        return Opened(earlier, created=False)
    days = load_policy(session).dispute_days
    dispute = Dispute(
        borrower=borrower,
        id=str(uuid.uuid4()),
        lender_id=lender_id,
        loan_ref=loan_ref,
        opened_by_lender_id=opened_by_lender_id,
        opened_by_operator_id=opened_by_operator_id,
        inquiry_id=inquiry_id,
        tradeline=tradeline,
        reason=reason,
        opened_at=now,
        due_at=now + timedelta(days=days),
        status=DisputeStatus.OPEN,
    )
    session.add(dispute)
    audit.record(
        session,
        actor,
        "dispute_opened",
        now,
        f"dispute:{dispute.id}",
        {
            "borrower": borrower.hex(),
            "lender": _lender_code(session, lender_id),
            "loan_ref": loan_ref,
            "tradeline": tradeline,
            "inquiry_id": inquiry_id,
            "reason": reason,
            "due_at": dispute.due_at.isoformat(),
        },
    )
    session.flush()
    return Opened(dispute, created=True)


def open_by_lender(
    session: Session,
    caller_id: int,
    inquiry_id: str,
    tradeline: str,
    raw_reason: str,
    now: datetime,
    actor: audit.Actor,
) -> Opened:
    """A lender relays a borrower's dispute of tradeline `tradeline` of its inquiry's report."""
    reason = check_text(raw_reason, "reason", MAX_REASON, required=True)
    assert reason is not None
    hold_lender(session, caller_id)  # read the inquiry's token after any retire, not during
    inquiry = session.scalar(
        select(Inquiry).where(Inquiry.lender_id == caller_id, Inquiry.id == inquiry_id)
    )
    if inquiry is None:
        raise InvalidInput(
            "no such inquiry", [FieldError("inquiry_id", "no inquiry of yours with this id")]
        )
    if inquiry.created_at < now - timedelta(days=INQUIRY_WINDOW_DAYS):
        raise InvalidInput(
            "inquiry too old",
            [
                FieldError(
                    "inquiry_id",
                    f"made more than {INQUIRY_WINDOW_DAYS} days ago: dispute through a recent "
                    "report of this borrower",
                )
            ],
        )
    placed = place(session, inquiry, tradeline)
    return _open_dispute(
        session,
        borrower=inquiry.borrower,
        lender_id=placed.lender_id,
        loan_ref=placed.loan_ref,
        tradeline=placed.label,
        reason=reason,
        now=now,
        actor=actor,
        opened_by_lender_id=caller_id,
        inquiry_id=inquiry.id,
    )


def open_by_operator(
    session: Session,
    borrower: bytes,
    lender_code: str,
    loan_ref: str,
    raw_reason: str,
    tradeline: str,
    now: datetime,
    actor: audit.Actor,
    operator_id: int | None,
) -> Opened:
    """An operator records a borrower's dispute of one loan, named by lender and reference
    (`tradeline`: the label the borrower page showed it under, kept for the record)."""
    reason = check_text(raw_reason, "reason", MAX_REASON, required=True)
    assert reason is not None
    lender_id = session.scalar(select(Lender.id).where(Lender.code == lender_code))
    hold_lender(session, lender_id)
    held = lender_id is not None and (
        session.scalar(
            select(Loan.loan_ref).where(
                Loan.borrower == borrower, Loan.lender_id == lender_id, Loan.loan_ref == loan_ref
            )
        )
        is not None
    )
    if lender_id is None or not held:
        raise InvalidInput(
            "no such loan", [FieldError("loan_ref", "no loan of that lender for this borrower")]
        )
    return _open_dispute(
        session,
        borrower=borrower,
        lender_id=lender_id,
        loan_ref=loan_ref,
        tradeline=tradeline.strip()[:32] or "-",
        reason=reason,
        now=now,
        actor=actor,
        opened_by_operator_id=operator_id,
    )


def status_condition(status: str, now: datetime) -> ColumnElement[bool]:
    """The rows of one of LIST_STATUSES."""
    if status == "answered":
        return Dispute.status == DisputeStatus.ANSWERED
    if status == "overdue":
        return (Dispute.status == DisputeStatus.OPEN) & (Dispute.due_at < now)
    return Dispute.status == DisputeStatus.OPEN


def check_status(status: str | None) -> None:
    if status is not None and status not in LIST_STATUSES:
        raise InvalidInput(
            "bad status", [FieldError("status", "must be one of " + ", ".join(LIST_STATUSES))]
        )


def list_for_lender(
    session: Session, lender_id: int, status: str | None, now: datetime
) -> list[Dispute]:
    """The disputes of the lender's own records, the most urgent first (by deadline)."""
    check_status(status)
    conditions = [Dispute.lender_id == lender_id]
    if status is not None:
        conditions.append(status_condition(status, now))
    return list(
        session.scalars(
            select(Dispute)
            .where(*conditions)
            .order_by(Dispute.due_at, Dispute.id)
            .limit(LIST_LIMIT)
        )
    )


def get_for_lender(session: Session, lender_id: int, dispute_id: str) -> Dispute:
    """A dispute of the lender's own record, or one it opened; NotFound for any other."""
    dispute = session.scalar(select(Dispute).where(Dispute.id == dispute_id))
    if dispute is None or lender_id not in (dispute.lender_id, dispute.opened_by_lender_id):
        raise NotFound(f"no dispute {dispute_id} of yours")
    return dispute


def _resolution(raw: str) -> DisputeResolution:
    try:
        return DisputeResolution(raw)
    except ValueError:
        choices = ", ".join(r.value for r in DisputeResolution)
        raise InvalidInput(
            "bad resolution", [FieldError("resolution", f"must be one of {choices}")]
        ) from None


def _changed_since(
    session: Session,
    dispute: Dispute,
    change: type[LoanCorrection] | type[LoanRetraction],
    at: InstrumentedAttribute[datetime],
) -> bool:
    """Whether the disputed loan has a correction (or a retraction) made at `at` or after
    the dispute opened."""
    return bool(
        session.scalar(
            select(
                exists().where(
                    change.borrower == dispute.borrower,
                    change.lender_id == dispute.lender_id,
                    change.loan_ref == dispute.loan_ref,
                    at >= dispute.opened_at,
                )
            )
        )
    )


def _require_backing(session: Session, dispute: Dispute, resolution: DisputeResolution) -> None:
    """`corrected` and `retracted` must be true of the loan: a correction (a retraction) of
    it since the dispute opened."""
    if resolution == DisputeResolution.CORRECTED:
        backed = _changed_since(session, dispute, LoanCorrection, LoanCorrection.corrected_at)
        title, needs = (
            "no correction",
            f"corrected needs a correction of loan {dispute.loan_ref} sent since the "
            'dispute opened (a report with "correction": true); send it first',
        )
    elif resolution == DisputeResolution.RETRACTED:
        backed = _changed_since(session, dispute, LoanRetraction, LoanRetraction.retracted_at)
        title, needs = (
            "not retracted",
            f"retracted needs loan {dispute.loan_ref} retracted since the dispute "
            "opened (DELETE /v1/loans/<loan_ref>); retract it first",
        )
    else:
        return
    if not backed:
        raise InvalidInput(title, [FieldError("resolution", needs)])


def answer(
    session: Session,
    lender_id: int,
    dispute_id: str,
    raw_resolution: str,
    raw_note: str | None,
    now: datetime,
    actor: audit.Actor,
) -> Dispute:
    """The owning lender's answer: NotFound for anyone else's dispute, Conflict the second
    time, InvalidInput (naming the field) when the resolution's condition is not met."""
    dispute = session.scalar(
        select(Dispute)
        .where(Dispute.id == dispute_id, Dispute.lender_id == lender_id)
        .with_for_update()
    )
    if dispute is None:
        raise NotFound(f"no dispute {dispute_id} of your records")
    if dispute.status == DisputeStatus.ANSWERED:
        raise Conflict(
            f"dispute {dispute.id} was answered already ({dispute.resolution}, "
            f"{dispute.answered_at.isoformat() if dispute.answered_at else '?'})"
        )
    resolution = _resolution(raw_resolution)
    note = check_text(raw_note, "note", MAX_NOTE, required=False)
    _require_backing(session, dispute, resolution)
    late = now > dispute.due_at
    dispute.status = DisputeStatus.ANSWERED
    dispute.resolution = resolution.value
    dispute.note = note
    dispute.answered_at = now
    audit.record(
        session,
        actor,
        "dispute_answered",
        now,
        f"dispute:{dispute.id}",
        {
            "borrower": dispute.borrower.hex(),
            "lender": _lender_code(session, dispute.lender_id),
            "loan_ref": dispute.loan_ref,
            "resolution": resolution.value,
            "note": note,
            "late": late,
        },
    )
    session.flush()
    return dispute


def overdue_disputes(session: Session, lender_id: int, now: datetime) -> int:
    """How many of the lender's disputes are past their deadline unanswered."""
    count = session.scalar(
        select(func.count())
        .select_from(Dispute)
        .where(Dispute.lender_id == lender_id, status_condition("overdue", now))
    )
    return int(count or 0)


def for_borrower(session: Session, borrower: bytes) -> list[Dispute]:
    """Every dispute of one borrower's records, newest first (by the token key)."""
    return list(
        session.scalars(
            select(Dispute)
            .where(Dispute.borrower == borrower)
            .order_by(Dispute.opened_at.desc(), Dispute.id)
        )
    )
