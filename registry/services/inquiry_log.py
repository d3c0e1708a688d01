"""The inquiry log for operators: filtered, paginated, and exported as CSV.

Reads only. Filters become WHERE clauses (lender, purpose, time range, flag, outcome); the
lender's code and the application's outcome come from joins, so a page is two statements (the
rows and the count).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, String, and_, cast, func, select
from sqlalchemy.orm import Session

from registry.models import ApplicationOutcome, Inquiry, Lender, Outcome, Purpose
from registry.services.errors import FieldError, InvalidInput
from registry.services.paging import Paginated
from registry.services.policy import RULE_CODES

PURPOSES = ("new_credit", "account_review")
FLAG_FILTERS = ("any", "none", *RULE_CODES)
# An application's outcome, or "none": a new_credit inquiry with no outcome yet.
OUTCOME_FILTERS = (*(o.value for o in Outcome), "none")
MAX_PER_PAGE = 200
# The dates a filter may name: the day after LAST_DAY must still be a date.
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(9999, 12, 30)

CSV_COLUMNS = (
    "created_at",
    "inquiry_id",
    "lender",
    "purpose",
    "borrower",
    "consent_ref",
    "amount_requested",
    "currency",
    "flags",
    "outcome",
    "outcome_loan_ref",
    "outcome_amount",
    "outcome_currency",
)


@dataclass(frozen=True)
class InquiryFilter:
    lender: str | None = None  # lender code
    purpose: str | None = None
    since: date | None = None  # first day included (UTC)
    until: date | None = None  # last day included (UTC)
    flag: str | None = None  # a flag code, "any" (some flag) or "none"
    outcome: str | None = None  # one of OUTCOME_FILTERS

    @classmethod
    def parse(cls, args: dict[str, str]) -> InquiryFilter:
        """From query-string values; raises InvalidInput naming the bad fields."""
        errors = []
        purpose = args.get("purpose") or None
        if purpose is not None and purpose not in PURPOSES:
            errors.append(FieldError("purpose", f"one of {', '.join(PURPOSES)}"))
        flag = args.get("flag") or None
        if flag is not None and flag not in FLAG_FILTERS:
            errors.append(FieldError("flag", "a flag code, 'any' or 'none'"))
        outcome = args.get("outcome") or None
        if outcome is not None and outcome not in OUTCOME_FILTERS:
            errors.append(FieldError("outcome", f"one of {', '.join(OUTCOME_FILTERS)}"))
        days: dict[str, date | None] = {}
        for name in ("since", "until"):
            raw = args.get(name) or None
            day: date | None = None
            try:
                day = date.fromisoformat(raw) if raw else None
            except ValueError:
                errors.append(FieldError(name, "a date, YYYY-MM-DD"))
            if day is not None and not FIRST_DAY <= day <= LAST_DAY:
                errors.append(FieldError(name, f"a date from {FIRST_DAY} to {LAST_DAY}"))
                day = None
            days[name] = day
        if days["since"] and days["until"] and days["since"] > days["until"]:
            errors.append(FieldError("until", "must not be before 'since'"))
        if errors:
            raise InvalidInput("the filter is invalid", errors)
        lender = (args.get("lender") or "").strip().lower() or None
        return cls(lender, purpose, days["since"], days["until"], flag, outcome)

    def query_args(self) -> dict[str, str]:
        values = {
            "lender": self.lender,
            "purpose": self.purpose,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "flag": self.flag,
            "outcome": self.outcome,
        }
        return {k: v for k, v in values.items() if v}


@dataclass(frozen=True)
class InquiryRow:
    id: str
    created_at: datetime
    lender: str
    purpose: str
    borrower: str  # hex
    consent_ref: str | None
    amount_requested: int | None
    currency: str | None
    flags: list[str]
    # What came of it (new_credit only): approved (with the loan's ref and amount), declined,
    # withdrawn, or None (no outcome yet, or not an application).
    outcome: str | None = None
    outcome_loan_ref: str | None = None
    outcome_amount: int | None = None
    outcome_currency: str | None = None


@dataclass(frozen=True)
class InquiryPage(Paginated):
    rows: list[InquiryRow]
    total: int
    page: int
    per_page: int


def _filtered(statement: Select[Any], f: InquiryFilter) -> Select[Any]:
    if f.lender:
        statement = statement.where(Lender.code == f.lender)
    if f.purpose:
        statement = statement.where(Inquiry.purpose == f.purpose)
    if f.since:
        statement = statement.where(Inquiry.created_at >= _start_of(f.since))
    if f.until:
        statement = statement.where(Inquiry.created_at < _start_of(f.until + timedelta(days=1)))
    if f.flag:
        flags = cast(Inquiry.flags, String)
        if f.flag == "none":
            statement = statement.where(flags == "[]")
        elif f.flag == "any":
            statement = statement.where(flags != "[]")
        else:
            statement = statement.where(flags.contains(f'"{f.flag}"'))
    if f.outcome == "none":
        statement = statement.where(
            Inquiry.purpose == Purpose.NEW_CREDIT, ApplicationOutcome.outcome.is_(None)
        )
    elif f.outcome:
        statement = statement.where(ApplicationOutcome.outcome == f.outcome)
    return statement


def _with_outcome(statement: Select[Any]) -> Select[Any]:
    """The inquiry's outcome, if any (keyed by token first, like the inquiry)."""
    return statement.outerjoin(
        ApplicationOutcome,
        and_(
            ApplicationOutcome.borrower == Inquiry.borrower,
            ApplicationOutcome.inquiry_id == Inquiry.id,
        ),
    )


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _rows(statement: Select[Any]) -> Select[Any]:
    return _with_outcome(statement.join(Lender, Lender.id == Inquiry.lender_id)).order_by(
        Inquiry.created_at.desc(), Inquiry.id.desc()
    )


_COLUMNS = (
    Inquiry.id,
    Inquiry.created_at,
    Lender.code,
    Inquiry.purpose,
    Inquiry.borrower,
    Inquiry.consent_ref,
    Inquiry.amount_requested,
    Inquiry.currency,
    Inquiry.flags,
    ApplicationOutcome.outcome,
    ApplicationOutcome.loan_ref,
    ApplicationOutcome.amount,
    ApplicationOutcome.currency,
)


def _row(values: Any) -> InquiryRow:
    id_, created_at, code, purpose, borrower, consent, amount, currency, flags, *outcome = values
    return InquiryRow(
        id_,
        created_at,
        code,
        purpose,
        borrower.hex(),
        consent,
        amount,
        currency,
        list(flags),
        *outcome,
    )


def search(session: Session, f: InquiryFilter, page: int = 1, per_page: int = 50) -> InquiryPage:
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    page = max(1, page)
    base = select(*_COLUMNS)
    rows = session.execute(
        _filtered(_rows(base), f).limit(per_page).offset((page - 1) * per_page)
    ).all()
    count = select(func.count()).select_from(Inquiry)
    if f.lender:
        count = count.join(Lender, Lender.id == Inquiry.lender_id)
    if f.outcome:
        count = _with_outcome(count)
    total = session.scalar(_filtered(count, f)) or 0
    return InquiryPage([_row(r) for r in rows], total, page, per_page)


def for_borrower(session: Session, borrower: bytes, limit: int = 200) -> list[InquiryRow]:
    """The inquiries about one token, newest first (by the token index)."""
    statement = _rows(select(*_COLUMNS)).where(Inquiry.borrower == borrower).limit(limit)
    return [_row(r) for r in session.execute(statement)]


# A spreadsheet starts a formula at one of these, also after leading white space, and some
# (LibreOffice with "detect special numbers", Excel with a list separator) after a separator.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")
_SEPARATORS = (";", ",", "|", "\t")


def _cell(value: str) -> str:
    """Neutralise spreadsheet formulas in text a lender supplied (CSV injection): a cell
    whose first non-blank character, or whose text after any separator, could start a
    formula is prefixed with a quote, which every spreadsheet shows as text."""
    stripped = value.lstrip(" \u00a0")
    if stripped[:1] in _FORMULA_START:
        return "'" + value
    for separator in _SEPARATORS:
        for part in value.split(separator)[1:]:
            if part.lstrip(" \u00a0")[:1] in _FORMULA_START:
                return "'" + value
    return value


def export_csv(session: Session, f: InquiryFilter, batch: int = 2_000) -> Iterator[str]:
    """The filtered inquiries as CSV text chunks, streamed (all pages, newest first)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    statement = _filtered(_rows(select(*_COLUMNS)), f).execution_options(yield_per=batch)
    for n, values in enumerate(session.execute(statement)):
        row = _row(values)
        writer.writerow(
            (
                row.created_at.isoformat().replace("+00:00", "Z"),
                row.id,
                row.lender,
                row.purpose,
                row.borrower,
                _cell(row.consent_ref or ""),
                "" if row.amount_requested is None else row.amount_requested,
                row.currency or "",
                " ".join(row.flags),
                row.outcome or "",
                _cell(row.outcome_loan_ref or ""),
                "" if row.outcome_amount is None else row.outcome_amount,
                row.outcome_currency or "",
            )
        )
        if n % batch == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
