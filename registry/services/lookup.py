"""Borrower look-up for operators: the report a lender would get, plus who holds the loans.

Read-only apart from its audit row, which states the operator's reason: it records no
inquiry, so it is never a signal to lenders. The figures and flags come from the same
functions as `POST /v1/inquiries` (`inquiries.summarise`, `inquiries.evaluate_flags`), with
the report's definitions, tradelines and labels included; the operator also sees which lender
each label stands for. A lender's report counts the *other* lenders that asked (never the
caller); an operator is no lender, so here every lender that asked counts (see
`INQUIRING_NOTE`). The caller owns the unit of work (`registry.db.transaction`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry.db import exact_total, split_sum
from registry.models import Lender, Loan, LoanStatus
from registry.services import audit
from registry.services.dashboard.applications import ProvisionalLoan, borrower_provisional_loans
from registry.services.errors import FieldError, InvalidInput
from registry.services.inquiries import Flag, Summary, Tradeline, evaluate_flags, summarise
from registry.services.inquiry_log import InquiryRow, for_borrower
from registry.services.policy import load_policy
from registry.services.report.tradelines import string_months

TOKEN_PATTERN = re.compile(r"[0-9a-f]{64}")
NO_LENDER = 0  # lender ids start at 1: every lender is "other"
MAX_REASON = 200
# The report's words for `other_lenders_inquiring` (the lender-client table says the same).
INQUIRING_LABEL = "Other lenders inquiring (1h/24h/7d/30d/90d)"
INQUIRING_NOTE = (
    "Lenders, not inquiries: distinct lenders that asked with purpose new_credit in the last "
    "hour, 24 hours, 7, 30 and 90 days (each boundary included). A lender's report leaves out "
    "the lender that asks; this look-up is made by no lender, so every lender that asked is "
    "counted."
)


@dataclass(frozen=True)
class Holder:
    code: str
    name: str
    status: str
    open_loans: int
    outstanding: dict[str, int]
    max_days_past_due: int


@dataclass(frozen=True)
class NamedTradeline:
    """A tradeline as the report shows it, with the lender its label stands for."""

    line: Tradeline
    lender_code: str
    lender_name: str
    lender_exited: bool


@dataclass(frozen=True)
class BorrowerLookup:
    borrower: str
    generated_at: datetime
    reason: str
    summary: Summary
    flags: list[Flag]
    holders: list[Holder]
    inquiries: list[InquiryRow]
    tradelines: list[NamedTradeline] = field(default_factory=list)
    months: list[str] = field(default_factory=list)  # the 24-month strings' months, oldest first
    # Every approval of the borrower's applications, provisional, reported or expired.
    provisional: list[ProvisionalLoan] = field(default_factory=list)


def parse_token(raw: str) -> bytes:
    token = raw.strip().lower()
    if not TOKEN_PATTERN.fullmatch(token):
        raise InvalidInput(
            "not a borrower token", [FieldError("token", "64 hexadecimal characters")]
        )
    return bytes.fromhex(token)


def parse_reason(raw: str) -> str:
    reason = raw.strip()
    if not reason:
        raise InvalidInput("no reason", [FieldError("reason", "say why you look this person up")])
    if len(reason) > MAX_REASON:
        raise InvalidInput(
            "reason too long", [FieldError("reason", f"at most {MAX_REASON} characters")]
        )
    return reason


def parse_request(raw_token: str, raw_reason: str) -> tuple[bytes, str]:
    """A look-up's token and stated reason, with every field's error at once."""
    errors: list[FieldError] = []
    borrower, reason = b"", ""
    try:
        borrower = parse_token(raw_token)
    except InvalidInput as exc:
        errors.extend(exc.errors)
    try:
        reason = parse_reason(raw_reason)
    except InvalidInput as exc:
        errors.extend(exc.errors)
    if errors:
        raise InvalidInput("the look-up is invalid", errors)
    return borrower, reason


def look_up(
    session: Session, raw_token: str, reason: str, now: datetime, actor: audit.Actor
) -> BorrowerLookup:
    """The operator's view of one borrower token, audited as `lookup` with the operator's
    stated reason. Nothing is shown without a reason; the caller commits."""
    borrower, reason = parse_request(raw_token, reason)
    policy = load_policy(session)
    summary, _own = summarise(session, borrower, NO_LENDER, now, policy)
    flags = evaluate_flags(summary, policy)
    lender_ids = {line.lender_id for line in summary.tradelines}
    names = {
        lender_id: (code, name, exited_at is not None)
        for lender_id, code, name, exited_at in session.execute(
            select(Lender.id, Lender.code, Lender.name, Lender.exited_at).where(
                Lender.id.in_(lender_ids)
            )
        ).tuples()
    }
    named = [NamedTradeline(line, *names[line.lender_id]) for line in summary.tradelines]
    per_lender: dict[str, dict[str, int]] = {}
    rows = session.execute(
        select(
            Lender.code,
            Lender.name,
            Lender.status,
            Loan.currency,
            func.count(),
            *split_sum(Loan.outstanding),
            func.max(Loan.days_past_due),
        )
        .join(Lender, Lender.id == Loan.lender_id)
        .where(Loan.borrower == borrower, Loan.status == LoanStatus.OPEN)
        .group_by(Lender.code, Lender.name, Lender.status, Loan.currency)
        .order_by(Lender.code, Loan.currency)
    ).tuples()
    info: dict[str, tuple[str, str]] = {}
    counts: dict[str, int] = {}
    late: dict[str, int] = {}
    for code, name, status, currency, count, high, low, dpd in rows:
        info[code] = (name, status)
        counts[code] = counts.get(code, 0) + count
        late[code] = max(late.get(code, 0), int(dpd or 0))
        per_lender.setdefault(code, {})[currency] = exact_total(high, low)
    holders = [
        Holder(code, info[code][0], info[code][1], counts[code], per_lender[code], late[code])
        for code in info
    ]
    inquiries = for_borrower(session, borrower)
    audit.record(
        session,
        actor,
        "lookup",
        now,
        borrower.hex(),
        {"reason": reason, "open_loans": summary.open_loans, "flags": [f.code for f in flags]},
    )
    return BorrowerLookup(
        borrower.hex(),
        now,
        reason,
        summary,
        flags,
        holders,
        inquiries,
        named,
        string_months(now.date()),
        borrower_provisional_loans(session, borrower, now, policy.provisional_days),
    )
