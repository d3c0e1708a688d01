"""The over-indebtedness report: exact aggregates over every lender's loans for one token,
with one tradeline per loan (see `registry.services.report` for each part's rules).

Four reads by token (the token's loans with their lenders' exit and their stored months of
the 24-month strings, in one statement; other lenders' applications with their outcomes; the
borrower's open disputes and statement; the borrower's phones, and their borrowers when there
are phones), then the writes: the phone
sighting an inquiry brings (before the reads, so that the identity figures count it) and the
inquiry itself. A borrower has a handful of loans, so the figures are computed in Python from
the rows, which keeps every rule readable and exact. The caller owns the transaction
(`registry.db.transaction`): this module flushes, never commits.
"""

from __future__ import annotations

import uuid
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from registry.models import Inquiry, InquiryKey, Lender, Loan, LoanHistory, LoanStatus, Purpose
from registry.schemas.inquiries import (
    FlagOut,
    IdentityOut,
    InquiryReportOut,
    OwnOut,
    RequestedOut,
    SummaryOut,
    TradelineOut,
)
from registry.services.errors import Conflict, FieldError, InvalidInput, NotPermitted
from registry.services.idempotency import REUSED_KEY, fingerprint
from registry.services.loans import record_phones
from registry.services.policy import Policy, load_policy
from registry.services.report.applications import (
    WINDOWS,
    inquiring,
    pending,
    provisional_loans,
    read_applications,
)
from registry.services.report.book import read_book
from registry.services.report.figures import RECENT_OPENING_DAYS, OwnPart, Summary, compute
from registry.services.report.flags import Flag, evaluate_flags
from registry.services.report.identity import read_identity
from registry.services.report.obligations import finish_summary, mark_tradelines, read_marks
from registry.services.report.tradelines import Tradeline, build_tradelines
from registry.services.reporting import NO_ROTATION
from registry.services.retention_loans import brought_current_days
from registry.services.tokens import open_rotation

__all__ = [
    "RECENT_OPENING_DAYS",
    "WINDOWS",
    "Flag",
    "InquiryOutcome",
    "InquiryRequest",
    "OwnPart",
    "Summary",
    "Tradeline",
    "build_report",
    "check_request",
    "evaluate_flags",
    "inquire",
    "summarise",
]

# A report recorded before a figure existed is replayed with the figure's empty value.
_NEUTRAL_SUMMARY: dict[str, Any] = {
    name: value
    for name, value in asdict(Summary()).items()
    if name in SummaryOut.model_fields and not isinstance(value, list)
}
_NEUTRAL_IDENTITY = IdentityOut(phones_90d=0, max_borrowers_per_phone=0).model_dump()


@dataclass(frozen=True)
class InquiryRequest:
    borrower: str  # 64 lower-case hex
    purpose: Purpose
    consent_ref: str | None = None
    amount_requested: int | None = None
    currency: str | None = None
    borrower_next: str | None = None  # during a token rotation window only
    phone_token: str | None = None  # 64 lower-case hex; stored apart, never in the report


def tradeline_out(line: Tradeline) -> TradelineOut:
    return TradelineOut(
        lender=line.lender,
        own=line.own,
        product=line.product,
        currency=line.currency,
        credit_limit=line.credit_limit,
        outstanding=line.outstanding,
        amount_past_due=line.amount_past_due,
        days_past_due=line.days_past_due,
        status=line.status,
        special_event=line.special_event,
        opened_month=line.opened_month,
        closed_month=line.closed_month,
        last_reported_on=line.last_reported_on,
        age_days=line.age_days,
        stale=line.stale,
        status_24m=line.status_24m,
        provisional_until=line.provisional_until,
        disputed=line.disputed,
    )


def summary_out(summary: Summary) -> SummaryOut:
    return SummaryOut(
        open_loans=summary.open_loans,
        lenders_with_open_loans=summary.lenders_with_open_loans,
        other_lenders_with_open_loans=summary.other_lenders_with_open_loans,
        outstanding=dict(sorted(summary.outstanding.items())),
        max_days_past_due=summary.max_days_past_due,
        past_due_loans=summary.past_due_loans,
        written_off_loans=summary.written_off_loans,
        loans_opened_last_30d=summary.loans_opened_last_30d,
        other_lenders_inquiring=summary.other_lenders_inquiring,
        worst_days_past_due_12m=summary.worst_days_past_due_12m,
        worst_days_past_due_24m=summary.worst_days_past_due_24m,
        last_delinquent_on=summary.last_delinquent_on,
        written_off_amount=summary.written_off_amount,
        amount_past_due=summary.amount_past_due,
        monthly_obligations=summary.monthly_obligations,
        credit_limit=summary.credit_limit,
        utilisation=summary.utilisation,
        outstanding_with_request=summary.outstanding_with_request,
        lenders_opened_30d=summary.lenders_opened_30d,
        lenders_opened_90d=summary.lenders_opened_90d,
        lenders_opened_180d=summary.lenders_opened_180d,
        loans_closed_90d=summary.loans_closed_90d,
        stale_open_loans=summary.stale_open_loans,
        pending_applications=summary.pending_applications,
        pending_amount=dict(sorted(summary.pending_amount.items())),
        provisional_loans=summary.provisional_loans,
        provisional_amount=dict(sorted(summary.provisional_amount.items())),
        disputed_tradelines=summary.disputed_tradelines,
    )


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
        summary=summary_out(summary),
        own=OwnOut(open_loans=own.open_loans, outstanding=dict(sorted(own.outstanding.items()))),
        tradelines=[tradeline_out(line) for line in summary.tradelines],
        identity=IdentityOut(
            phones_90d=summary.phones_90d,
            max_borrowers_per_phone=summary.max_borrowers_per_phone,
        ),
        flags=[FlagOut(code=f.code, detail=f.detail) for f in flags],
        statement=summary.statement,
    )


def _requested(amount: int | None, currency: str | None) -> RequestedOut | None:
    if amount is None or currency is None:
        return None
    return RequestedOut(amount=amount, currency=currency)


def summarise(
    session: Session,
    borrower: bytes,
    caller_id: int,
    now: datetime,
    policy: Policy | None = None,
    requested: tuple[int, str] | None = None,
) -> tuple[Summary, OwnPart]:
    """The report's figures and tradelines for `borrower` as seen by lender `caller_id` at
    `now` (`requested`: the inquiry's amount and currency, if it named one)."""
    if policy is None:
        policy = load_policy(session)
    book = read_book(session, borrower)
    applications = read_applications(session, borrower, caller_id, now, policy.provisional_days)
    provisional = provisional_loans(applications, book, now, policy.provisional_days)
    cured = brought_current_days(session, borrower, book, now, policy.retention_closed_months)
    lines = build_tradelines(
        [*book, *provisional],
        borrower,
        caller_id,
        now,
        policy.stale_after_days,
        policy.retention_closed_months,
        cured,
    )
    marks = read_marks(session, borrower)
    lines = mark_tradelines(lines, marks, now, policy.overdue_disputes_ignored)
    summary, own = compute(lines, caller_id, now, requested)
    own.holds_loans = any(loan.lender_id == caller_id for loan in book)
    summary.other_lenders_inquiring = inquiring(applications, now)
    summary.pending_applications, summary.pending_amount = pending(applications, now)
    identity = read_identity(session, borrower, now)
    summary.phones_90d = identity.phones_90d
    summary.max_borrowers_per_phone = identity.max_borrowers_per_phone
    finish_summary(summary, marks, caller_id, now, requested)  # last: it copies the figures
    return summary, own


def may_review(session: Session, borrower: bytes, caller_id: int, now: datetime, days: int) -> bool:
    """Whether lender `caller_id` may ask `account_review` about `borrower`: it holds an open
    loan with them, or one that ended (closed or written off) within `days`, and that loan
    was open when first reported. A loan first reported already closed never qualifies:
    otherwise reporting an old closed loan would open anyone's report without consent."""
    first_status = (
        select(LoanHistory.status)
        .where(
            LoanHistory.borrower == Loan.borrower,
            LoanHistory.lender_id == Loan.lender_id,
            LoanHistory.loan_ref == Loan.loan_ref,
        )
        .order_by(LoanHistory.as_of)
        .limit(1)
        .scalar_subquery()
    )
    since = now.date() - timedelta(days=days)
    found = session.scalar(
        select(Loan.loan_ref)
        .where(
            Loan.borrower == borrower,
            Loan.lender_id == caller_id,
            or_(Loan.status == LoanStatus.OPEN, Loan.closed_on >= since),
            first_status == LoanStatus.OPEN,
        )
        .limit(1)
    )
    return found is not None


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
    # Fields added later are left out when absent, so that an earlier key's hash still holds.
    fields = {
        k: v
        for k, v in asdict(request).items()
        if v is not None or k not in ("borrower_next", "phone_token")
    }
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

    if request.phone_token is not None:
        record_phones(session, [(borrower, bytes.fromhex(request.phone_token))], now)
    policy = load_policy(session)
    requested = (
        (request.amount_requested, request.currency)
        if request.amount_requested is not None and request.currency is not None
        else None
    )
    summary, own = summarise(session, borrower, caller_id, now, policy, requested)
    if request.purpose == Purpose.ACCOUNT_REVIEW and not may_review(
        session, borrower, caller_id, now, policy.account_review_days
    ):
        raise NotPermitted(
            "account_review is for borrowers you hold an open loan with, or one closed within "
            f"{policy.account_review_days} days (never one first reported already closed); "
            "for an applicant, ask with purpose new_credit and their consent_ref"
        )
    flags = evaluate_flags(summary, policy)
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
    # Recorded before reports carried tradelines, applications or identity figures: the
    # figures it had none of take their empty values.
    stored.setdefault("tradelines", [])
    stored["summary"] = {**_NEUTRAL_SUMMARY, **stored["summary"]}
    stored.setdefault("identity", _NEUTRAL_IDENTITY)
    # The answer as first given, with the borrower's token as it is stored now.
    answer = InquiryReportOut.model_validate({**stored, "borrower": inquiry.borrower.hex()})
    return InquiryOutcome(answer, replayed=True)
