"""The borrower's own report (disclosure): everything the registry holds about one token,
for a person who has proved at the operator's desk that it is theirs.

What it holds, unlike a lender's report, with every lender named:
- every loan the registry keeps (`retention.retained`, the rule the retention run applies:
  open loans; loans with negative history for 5 years after the negative event ended; other
  closed loans for the policy's `retention_closed_months`), with its lender's code and name,
  its reference, its state, its 24-month payment-status string and every dispute of it;
- every dispute of the borrower's records, those of loans no longer on file included;
- the borrower's statement, if any;
- every inquiry about the token that the registry keeps: those of the last 2 years, in whole
  UTC days (one made on 2024-11-25 is disclosed until 2026-11-25 included, as retention
  keeps it), newest first, whatever its purpose (`account_review` included), with the
  lender's name, the date, the purpose, the consent reference and what came of the
  application (declines included: they are the borrower's own data).
Each disclosure is audited (`disclosure`), in the caller's unit of work.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from registry.models import ApplicationOutcome, Inquiry, Lender
from registry.services import audit
from registry.services.dispute_log import DisputeRow, for_borrower
from registry.services.errors import FieldError, InvalidInput
from registry.services.policy import load_policy
from registry.services.report.book import LoanRow, read_book
from registry.services.report.tradelines import string_months
from registry.services.retention import RECORD_RETENTION_MONTHS, first_kept_day, retained
from registry.services.retention_loans import brought_current_days
from registry.services.statements import get_statement
from registry_protocol.payment_status import month_of, status_string

__all__ = [
    "DisclosedInquiry",
    "DisclosedTradeline",
    "Disclosure",
    "disclose",
    "to_json",
]

MAX_REFERENCE = 200


@dataclass(kw_only=True)
class DisclosedTradeline(LoanRow):
    """A kept loan as the report reads it, with its lender named and its disputes."""

    lender_code: str
    lender_name: str
    status_24m: str
    disputed: bool  # an open dispute
    disputes: list[DisputeRow] = field(default_factory=list)

    @property
    def last_reported_on(self) -> date:
        return self.as_of.date()


@dataclass(frozen=True)
class DisclosedInquiry:
    id: str
    created_at: datetime
    lender_code: str
    lender_name: str
    purpose: str
    consent_ref: str | None
    amount_requested: int | None
    currency: str | None
    outcome: str | None  # approved, declined, withdrawn; None when none was recorded
    outcome_recorded_at: datetime | None


@dataclass(frozen=True)
class Disclosure:
    borrower: str
    generated_at: datetime
    reference: str | None  # the desk's note of the identity check, if given
    months: list[str]  # the 24-month strings' months, oldest first
    statement: str | None
    statement_set_at: datetime | None
    tradelines: list[DisclosedTradeline]
    disputes: list[DisputeRow]
    inquiries: list[DisclosedInquiry]
    inquiries_since: datetime


def _reference(raw: str | None) -> str | None:
    text = " ".join((raw or "").split())
    if len(text) > MAX_REFERENCE:
        raise InvalidInput(
            "reference too long", [FieldError("reference", f"at most {MAX_REFERENCE} characters")]
        )
    return text or None


def _tradelines(
    session: Session, borrower: bytes, now: datetime, disputes: list[DisputeRow]
) -> list[DisclosedTradeline]:
    today = now.date()
    policy = load_policy(session)
    book = read_book(session, borrower)
    # As reports do: where the months cannot tell when a loan was brought current, its
    # history does, so the disclosure hides a loan exactly when the retention run removes it.
    cured = brought_current_days(session, borrower, book, now, policy.retention_closed_months)
    loans = [
        loan
        for loan in book
        if retained(loan, now, policy, cured.get((loan.lender_id, loan.loan_ref)))
    ]
    names = {
        lender_id: (code, name)
        for lender_id, code, name in session.execute(
            select(Lender.id, Lender.code, Lender.name).where(
                Lender.id.in_({loan.lender_id for loan in loans})
            )
        ).tuples()
    }
    this_month = month_of(today)
    lines = []
    for loan in loans:
        code, name = names[loan.lender_id]
        own = [d for d in disputes if d.lender_code == code and d.loan_ref == loan.loan_ref]
        lines.append(
            DisclosedTradeline(
                **{column.name: getattr(loan, column.name) for column in fields(LoanRow)},
                lender_code=code,
                lender_name=name,
                status_24m=status_string(
                    {month: m.status for month, m in loan.months.items()}, this_month
                ),
                disputed=any(d.status == "open" for d in own),
                disputes=own,
            )
        )
    lines.sort(key=lambda line: (line.lender_name, line.opened_on, line.loan_ref))
    return lines


def _inquiries(session: Session, borrower: bytes, since: datetime) -> list[DisclosedInquiry]:
    rows = session.execute(
        select(
            Inquiry.id,
            Inquiry.created_at,
            Lender.code,
            Lender.name,
            Inquiry.purpose,
            Inquiry.consent_ref,
            Inquiry.amount_requested,
            Inquiry.currency,
            ApplicationOutcome.outcome,
            ApplicationOutcome.recorded_at,
        )
        .join(Lender, Lender.id == Inquiry.lender_id)
        .outerjoin(
            ApplicationOutcome,
            and_(
                ApplicationOutcome.borrower == Inquiry.borrower,
                ApplicationOutcome.inquiry_id == Inquiry.id,
            ),
        )
        .where(Inquiry.borrower == borrower, Inquiry.created_at >= since)
        .order_by(Inquiry.created_at.desc(), Inquiry.id)
    ).tuples()
    return [DisclosedInquiry(*row) for row in rows]


def disclose(
    session: Session,
    borrower: bytes,
    now: datetime,
    actor: audit.Actor,
    reference: str | None = None,
) -> Disclosure:
    """The borrower's disclosure report, audited as `disclosure` (with `reference`, the
    desk's note of how the person proved who they are)."""
    note = _reference(reference)
    disputes = for_borrower(session, borrower, now)
    statement = get_statement(session, borrower)
    first_day = first_kept_day(now.date(), RECORD_RETENTION_MONTHS)
    since = datetime.combine(first_day, time.min, tzinfo=UTC)
    disclosure = Disclosure(
        borrower=borrower.hex(),
        generated_at=now,
        reference=note,
        months=string_months(now.date()),
        statement=statement.text if statement is not None else None,
        statement_set_at=statement.created_at if statement is not None else None,
        tradelines=_tradelines(session, borrower, now, disputes),
        disputes=disputes,
        inquiries=_inquiries(session, borrower, since),
        inquiries_since=since,
    )
    audit.record(
        session,
        actor,
        "disclosure",
        now,
        borrower.hex(),
        {
            "reference": note,
            "tradelines": len(disclosure.tradelines),
            "inquiries": len(disclosure.inquiries),
            "disputes": len(disputes),
        },
    )
    session.flush()
    return disclosure


def _moment(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def _dispute_json(row: DisputeRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "lender": row.lender_name,
        "lender_code": row.lender_code,
        "loan_ref": row.loan_ref,
        "reason": row.reason,
        "opened_at": _moment(row.opened_at),
        "due_at": _moment(row.due_at),
        "status": row.status,
        "overdue": row.overdue,
        "resolution": row.resolution,
        "note": row.note,
        "answered_at": _moment(row.answered_at),
    }


def to_json(d: Disclosure) -> dict[str, Any]:
    """The disclosure as JSON values (ISO 8601 dates, money in minor units)."""
    return {
        "borrower": d.borrower,
        "generated_at": _moment(d.generated_at),
        "reference": d.reference,
        "statement": d.statement,
        "statement_set_at": _moment(d.statement_set_at),
        # The 24-month strings' first and last months (YYYY-MM).
        "status_24m_from": d.months[0],
        "status_24m_to": d.months[-1],
        "tradelines": [
            {
                "lender": line.lender_name,
                "lender_code": line.lender_code,
                "loan_ref": line.loan_ref,
                "product": line.product or "",  # a stored loan always has one
                "currency": line.currency,
                "credit_limit": line.credit_limit,
                "outstanding": line.outstanding,
                "amount_past_due": line.amount_past_due,
                "days_past_due": line.days_past_due,
                "status": line.status,
                "special_event": line.special_event,
                "opened_on": line.opened_on.isoformat(),
                "closed_on": line.closed_on.isoformat() if line.closed_on else None,
                "last_reported_on": line.last_reported_on.isoformat(),
                "status_24m": line.status_24m,
                "disputed": line.disputed,
                "disputes": [row.id for row in line.disputes],
            }
            for line in d.tradelines
        ],
        "disputes": [_dispute_json(row) for row in d.disputes],
        "inquiries_since": _moment(d.inquiries_since),
        "inquiries": [
            {
                "id": row.id,
                "created_at": _moment(row.created_at),
                "lender": row.lender_name,
                "lender_code": row.lender_code,
                "purpose": row.purpose,
                "consent_ref": row.consent_ref,
                "amount_requested": row.amount_requested,
                "currency": row.currency,
                "outcome": row.outcome,
                "outcome_recorded_at": _moment(row.outcome_recorded_at),
            }
            for row in d.inquiries
        ],
    }
