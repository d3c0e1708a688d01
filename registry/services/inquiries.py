"""The over-indebtedness report: exact aggregates over every lender's loans for one token.

Two reads (the token's loans, and other lenders' recent hard inquiries), both by token,
then one write (the inquiry itself). A borrower has a handful of loans, so the figures are
computed in Python from the rows, which keeps every rule readable and exact. The caller owns
the transaction (`registry.db.transaction`): this module flushes, never commits.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from registry.models import Inquiry, InquiryKey, Lender, Loan, LoanStatus, Purpose
from registry.schemas.inquiries import FlagOut, InquiryReportOut, OwnOut, RequestedOut, SummaryOut
from registry.services.errors import Conflict, FieldError, InvalidInput, NotPermitted
from registry.services.idempotency import REUSED_KEY, fingerprint
from registry.services.policy import RULE_CODES, Policy, load_policy
from registry.services.reporting import NO_ROTATION
from registry.services.tokens import open_rotation

WINDOWS = {"1d": 1, "7d": 7, "30d": 30, "90d": 90}
RECENT_OPENING_DAYS = 30


@dataclass(frozen=True)
class InquiryRequest:
    borrower: str  # 64 lower-case hex
    purpose: Purpose
    consent_ref: str | None = None
    amount_requested: int | None = None
    currency: str | None = None
    borrower_next: str | None = None  # during a token rotation window only


@dataclass(frozen=True)
class Flag:
    code: str
    detail: str


@dataclass
class Summary:
    open_loans: int = 0
    lenders_with_open_loans: int = 0
    other_lenders_with_open_loans: int = 0
    outstanding: dict[str, int] = field(default_factory=dict)
    max_days_past_due: int = 0
    past_due_loans: int = 0
    written_off_loans: int = 0
    loans_opened_last_30d: int = 0
    other_lenders_inquiring: dict[str, int] = field(default_factory=dict)
    # Not reported as such; used by PAST_DUE_ELSEWHERE.
    max_days_past_due_elsewhere: int = 0


@dataclass
class OwnPart:
    open_loans: int = 0
    outstanding: dict[str, int] = field(default_factory=dict)
    # Not reported as such: whether the caller holds any loan (of any status) with them.
    holds_loans: bool = False


def build_report(
    inquiry_id: str,
    request: InquiryRequest,
    generated_at: datetime,
    summary: Summary,
    own: OwnPart,
    flags: list[Flag],
) -> InquiryReportOut:
    """The report as the API answers it (and as it is recorded with the inquiry)."""
    return InquiryReportOut(
        inquiry_id=inquiry_id,
        borrower=request.borrower,
        generated_at=generated_at,
        purpose=request.purpose,
        requested=_requested(request.amount_requested, request.currency),
        summary=SummaryOut(
            open_loans=summary.open_loans,
            lenders_with_open_loans=summary.lenders_with_open_loans,
            other_lenders_with_open_loans=summary.other_lenders_with_open_loans,
            outstanding=dict(sorted(summary.outstanding.items())),
            max_days_past_due=summary.max_days_past_due,
            past_due_loans=summary.past_due_loans,
            written_off_loans=summary.written_off_loans,
            loans_opened_last_30d=summary.loans_opened_last_30d,
            other_lenders_inquiring=summary.other_lenders_inquiring,
        ),
        own=OwnOut(open_loans=own.open_loans, outstanding=dict(sorted(own.outstanding.items()))),
        flags=[FlagOut(code=f.code, detail=f.detail) for f in flags],
    )


def _requested(amount: int | None, currency: str | None) -> RequestedOut | None:
    if amount is None or currency is None:
        return None
    return RequestedOut(amount=amount, currency=currency)


def summarise(
    session: Session, borrower: bytes, caller_id: int, now: datetime
) -> tuple[Summary, OwnPart]:
    """The report's figures for `borrower` as seen by lender `caller_id` at `now`."""
    summary, own = Summary(), OwnPart()
    open_lenders: set[int] = set()
    outstanding: dict[str, int] = defaultdict(int)
    own_outstanding: dict[str, int] = defaultdict(int)
    opened_since = now.date() - timedelta(days=RECENT_OPENING_DAYS)
    loans = session.execute(
        select(
            Loan.lender_id,
            Loan.status,
            Loan.currency,
            Loan.outstanding,
            Loan.days_past_due,
            Loan.opened_on,
        ).where(Loan.borrower == borrower)
    )
    for lender_id, status, currency, amount, days_past_due, opened_on in loans:
        own.holds_loans |= lender_id == caller_id
        if opened_on >= opened_since:
            summary.loans_opened_last_30d += 1
        if status == LoanStatus.WRITTEN_OFF:
            summary.written_off_loans += 1
        if status != LoanStatus.OPEN:
            continue
        summary.open_loans += 1
        open_lenders.add(lender_id)
        outstanding[currency] += amount
        summary.max_days_past_due = max(summary.max_days_past_due, days_past_due)
        summary.past_due_loans += days_past_due > 0
        if lender_id == caller_id:
            own.open_loans += 1
            own_outstanding[currency] += amount
        else:
            summary.max_days_past_due_elsewhere = max(
                summary.max_days_past_due_elsewhere, days_past_due
            )
    summary.lenders_with_open_loans = len(open_lenders)
    summary.other_lenders_with_open_loans = len(open_lenders - {caller_id})
    summary.outstanding = dict(outstanding)
    own.outstanding = dict(own_outstanding)

    # Each other lender's latest hard inquiry within the widest window.
    latest = (
        session.execute(
            select(Inquiry.lender_id, func.max(Inquiry.created_at))
            .where(
                Inquiry.borrower == borrower,
                Inquiry.purpose == Purpose.NEW_CREDIT,
                Inquiry.created_at >= now - timedelta(days=max(WINDOWS.values())),
                Inquiry.lender_id != caller_id,
            )
            .group_by(Inquiry.lender_id)
        )
        .tuples()
        .all()
    )
    summary.other_lenders_inquiring = {
        name: sum(1 for _, at in latest if at >= now - timedelta(days=days))
        for name, days in WINDOWS.items()
    }
    return summary, own


def evaluate_flags(summary: Summary, policy: Policy) -> list[Flag]:
    """The policy's flags that this summary raises, in the policy's order."""
    measured = {
        "MULTI_LENDER": (
            summary.lenders_with_open_loans,
            "{} lenders have open loans to this borrower",
        ),
        "APPLICATION_SPREE": (
            summary.other_lenders_inquiring.get("7d", 0),
            "{} other lenders made credit inquiries in the last 7 days",
        ),
        "PAST_DUE_ELSEWHERE": (
            summary.max_days_past_due_elsewhere,
            "an open loan at another lender is {} days past due",
        ),
        "WRITTEN_OFF": (summary.written_off_loans, "{} written-off loan(s)"),
        "RAPID_BORROWING": (summary.loans_opened_last_30d, "{} loans opened in the last 30 days"),
    }
    flags = []
    for code in RULE_CODES:
        threshold = policy.thresholds.get(code)
        value, text = measured[code]
        if threshold is not None and value >= threshold:
            flags.append(Flag(code, f"{text.format(value)} (threshold {threshold})"))
    return flags


def check_request(request: InquiryRequest) -> list[FieldError]:
    """Rules across fields; types and ranges are checked where the request is parsed."""
    errors = []
    if request.purpose == Purpose.NEW_CREDIT and not request.consent_ref:
        errors.append(FieldError("consent_ref", "required when purpose is new_credit"))
    if request.amount_requested is not None and request.currency is None:
        errors.append(FieldError("currency", "required when amount_requested is given"))
    return errors


@dataclass(frozen=True)
class InquiryOutcome:
    answer: InquiryReportOut  # the report as answered
    replayed: bool = False  # the stored answer to an earlier request with the same key

    @property
    def flag_codes(self) -> list[str]:
        return [flag.code for flag in self.answer.flags]


def inquire(
    session: Session,
    caller_id: int,
    request: InquiryRequest,
    now: datetime,
    idempotency_key: str | None = None,
) -> InquiryOutcome:
    """Build the report and record the inquiry with it, inside the caller's (writing)
    transaction. With an idempotency key, a retry of the same request gets the recorded
    report back and records nothing."""
    errors = check_request(request)
    if errors:
        raise InvalidInput("the inquiry is invalid", errors)
    borrower = bytes.fromhex(request.borrower)
    fields = {k: v for k, v in asdict(request).items() if v is not None or k != "borrower_next"}
    request_hash = fingerprint({**fields, "purpose": request.purpose.value})
    if request.borrower_next is not None:
        # As uploads do: a rotation being retired holds every lender row until it is done.
        session.execute(
            select(Lender.id).where(Lender.id == caller_id).with_for_update(key_share=True)
        )
        if open_rotation(session) is None:
            raise InvalidInput("the inquiry is invalid", [FieldError("borrower_next", NO_ROTATION)])
    if idempotency_key is not None:
        earlier = session.get(InquiryKey, (caller_id, idempotency_key))
        if earlier is not None:
            return _replay(session, earlier, request_hash)

    summary, own = summarise(session, borrower, caller_id, now)
    if request.purpose == Purpose.ACCOUNT_REVIEW and not own.holds_loans:
        raise NotPermitted(
            "account_review is for borrowers you hold a loan with; "
            "for an applicant, ask with purpose new_credit and their consent_ref"
        )
    flags = evaluate_flags(summary, load_policy(session))
    inquiry_id = str(uuid.uuid4())
    answer = build_report(inquiry_id, request, now, summary, own, flags)
    recorded = answer.model_dump(mode="json", exclude={"borrower"})
    # With a key, a concurrent request with the same key may get there first (PostgreSQL):
    # a savepoint lets this one fall back to its answer without undoing the caller's work.
    written: AbstractContextManager[Any] = (
        session.begin_nested() if idempotency_key is not None else nullcontext()
    )
    try:
        with written:
            session.add(
                Inquiry(
                    borrower=borrower,
                    id=inquiry_id,
                    lender_id=caller_id,
                    purpose=request.purpose.value,
                    consent_ref=request.consent_ref,
                    amount_requested=request.amount_requested,
                    currency=request.currency,
                    flags=[f.code for f in flags],
                    created_at=now,
                    # Without the token: the row's own column holds it, and a rotation
                    # rewrites it.
                    report=recorded,
                    borrower_next=(
                        bytes.fromhex(request.borrower_next) if request.borrower_next else None
                    ),
                )
            )
            if idempotency_key is not None:
                session.add(
                    InquiryKey(
                        lender_id=caller_id,
                        idempotency_key=idempotency_key,
                        request_hash=request_hash,
                        borrower=borrower,
                        inquiry_id=inquiry_id,
                        created_at=now,
                    )
                )
            session.flush()
    except IntegrityError:
        if idempotency_key is None:
            raise
        earlier = session.get(InquiryKey, (caller_id, idempotency_key))
        if earlier is None:
            raise
        return _replay(session, earlier, request_hash)
    return InquiryOutcome(answer)


def _replay(session: Session, earlier: InquiryKey, request_hash: bytes) -> InquiryOutcome:
    if earlier.request_hash != request_hash:
        raise Conflict(REUSED_KEY)
    inquiry = session.get(Inquiry, (earlier.borrower, earlier.inquiry_id))
    assert inquiry is not None  # written in the same transaction as its key
    stored = dict(inquiry.report)
    # Recorded before reports named the requested amount: the row's own columns hold it.
    if "requested" not in stored:
        requested = _requested(inquiry.amount_requested, inquiry.currency)
        stored["requested"] = requested.model_dump() if requested else None
    # The answer as first given, with the borrower's token as it is stored now.
    answer = InquiryReportOut.model_validate({**stored, "borrower": inquiry.borrower.hex()})
    return InquiryOutcome(answer, replayed=True)
