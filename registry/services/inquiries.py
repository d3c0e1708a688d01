"""The over-indebtedness report: exact aggregates over every lender's loans for one token,
with one tradeline per loan (see `registry.services.report` for each part's rules).

An inquiry is read, then written. `prepare` reads by token (the token's loans with their
lenders' exit and their stored months of the 24-month strings, in one statement; other
lenders' applications with their outcomes; the borrower's open disputes and statement; the
borrower's phones, and their borrowers when there are phones) and builds the answer, counting
the phone sighting the request brings as if recorded; `inquiry_record.record` then writes the
sighting and the inquiry. A borrower has a handful of loans, so the figures are computed in
Python from the rows, which keeps every rule readable and exact. The caller owns the
transactions (`registry.db.transaction`): this module flushes, never commits.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from registry.models import InquiryKey, Loan, LoanHistory, LoanStatus, Purpose
from registry.schemas.inquiries import (
    FlagOut,
    IdentityOut,
    InquiryReportOut,
    OwnOut,
    SummaryOut,
    TradelineOut,
)
from registry.services.errors import FieldError, InvalidInput, NotPermitted
from registry.services.idempotency import fingerprint
from registry.services.inquiry_record import (
    InquiryOutcome,
    PreparedInquiry,
    record,
    replay,
    requested_out,
)
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
from registry.services.retention_loans import brought_current_days

__all__ = [
    "RECENT_OPENING_DAYS",
    "WINDOWS",
    "Flag",
    "InquiryOutcome",
    "InquiryRequest",
    "OwnPart",
    "PreparedInquiry",
    "Summary",
    "Tradeline",
    "build_report",
    "check_request",
    "evaluate_flags",
    "inquire",
    "prepare",
    "record",
    "summarise",
]


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
        requested=requested_out(request.amount_requested, request.currency),
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


def summarise(
    session: Session,
    borrower: bytes,
    caller_id: int,
    now: datetime,
    policy: Policy | None = None,
    requested: tuple[int, str] | None = None,
    phone: bytes | None = None,
) -> tuple[Summary, OwnPart]:
    """The report's figures and tradelines for `borrower` as seen by lender `caller_id` at
    `now` (`requested`: the inquiry's amount and currency, if it named one; `phone`: a phone
    token the inquiry brings, counted as seen with the borrower at `now`)."""
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
    identity = read_identity(session, borrower, now, phone)
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


def prepare(
    session: Session,
    caller_id: int,
    request: InquiryRequest,
    now: datetime,
    idempotency_key: str | None = None,
    policy: Policy | None = None,
) -> PreparedInquiry:
    """Every read of an inquiry, and its answer: the report as of `now`, counting the phone
    sighting the request brings as if already recorded (`inquiry_record.record` writes it).
    With an idempotency key already used, the recorded answer (or a Conflict)."""
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
    phone = bytes.fromhex(request.phone_token) if request.phone_token is not None else None
    prepared = partial(
        PreparedInquiry,
        caller_id=caller_id,
        now=now,
        borrower=borrower,
        borrower_next=bytes.fromhex(request.borrower_next) if request.borrower_next else None,
        phone=phone,
        consent_ref=request.consent_ref,
        amount_requested=request.amount_requested,
        currency=request.currency,
        request_hash=request_hash,
        idempotency_key=idempotency_key,
    )
    if idempotency_key is not None:
        earlier = session.get(InquiryKey, (caller_id, idempotency_key))
        if earlier is not None:
            return prepared(answer=replay(session, earlier, request_hash).answer, replay=True)
    if policy is None:
        policy = load_policy(session)
    requested = (
        (request.amount_requested, request.currency)
        if request.amount_requested is not None and request.currency is not None
        else None
    )
    summary, own = summarise(session, borrower, caller_id, now, policy, requested, phone)
    if request.purpose == Purpose.ACCOUNT_REVIEW and not may_review(
        session, borrower, caller_id, now, policy.account_review_days
    ):
        raise NotPermitted(
            "account_review is for borrowers you hold an open loan with, or one closed within "
            f"{policy.account_review_days} days (never one first reported already closed); "
            "for an applicant, ask with purpose new_credit and their consent_ref"
        )
    flags = evaluate_flags(summary, policy)
    return prepared(answer=build_report(str(uuid.uuid4()), request, now, summary, own, flags))


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
    return record(session, prepare(session, caller_id, request, now, idempotency_key))
