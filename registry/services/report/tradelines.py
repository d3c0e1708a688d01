"""Tradelines: which loans a report shows (retention), how fresh each is, the lender labels,
and each loan's 24-month payment-status string.

Retention, at the inquiry's date (`today`):
- an open loan is always shown;
- a closed loan without negative history is shown for 24 months after its closing date
  (`closed_on`; a loan closed on the same day of the month 24 months ago still is);
- a loan with negative history (written off at any time, or past due in any stored month or
  in its current state) is shown for 5 years (60 months) after its closing date;
- and nothing the registry would no longer keep (`registry.services.retention`: 5 years from
  the end of a negative event, `retention_closed_months` after a clean closing), even before
  the daily retention run removes it.
Nothing outside retention counts towards any figure or flag.

Freshness: a loan is stale when its latest report (`as_of`, as a UTC date) is more than the
policy's `stale_after_days` days old, or when its lender has exited (from the exit on).

Provisional loans (other lenders' approved applications not yet reported, made `LoanRow`s by
`report.applications`) are tradelines too, status `provisional`: never stale, no 24-month
string (""), and their `provisional_until` date; they take their lender's label like loans.

Labels: `A`, `B`, ... `Z`, `AA`, ... in the order of each lender's earliest opened loan in
this report; lenders that opened their first loans on the same day are ordered by a hash of
the borrower token and the lender's id, which says nothing about the lender. A label means
nothing outside its report.
"""

from __future__ import annotations

import calendar
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime

from registry.services.report.book import LoanRow
from registry.services.retention import DEFAULT_RETENTION_CLOSED_MONTHS, loan_retained
from registry_protocol.payment_status import MONTHS, add_months, month_of, status_string

PROVISIONAL = "provisional"  # the status of a provisional loan's tradeline

CLOSED_RETENTION_MONTHS = 24
NEGATIVE_RETENTION_MONTHS = 60
NEGATIVE_MONTH_STATUSES = frozenset("1234567W")


def shift_months(day: date, months: int) -> date:
    """The same day of the month `months` months later (earlier if negative), clipped to the
    month's last day (31 March - 1 month = 28 or 29 February)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def has_negative_history(loan: LoanRow) -> bool:
    """Written off at any time, or past due now or in any stored month."""
    return (
        loan.status == "written_off"
        or loan.written_off_on is not None
        or loan.days_past_due > 0
        or any(
            m.worst_days_past_due > 0 or m.status in NEGATIVE_MONTH_STATUSES
            for m in loan.months.values()
        )
    )


def is_retained(loan: LoanRow, today: date) -> bool:
    if loan.status in ("open", PROVISIONAL):  # a provisional loan's own expiry is applied
        return True
    ended = loan.closed_on or loan.as_of.date()
    keep = NEGATIVE_RETENTION_MONTHS if has_negative_history(loan) else CLOSED_RETENTION_MONTHS
    return ended >= shift_months(today, -keep)


def age_days(loan: LoanRow, today: date) -> int:
    """Days since the latest report's UTC date; 0 for one dated a few minutes ahead (the
    clock skew ingest allows) across midnight."""
    return max(0, (today - loan.as_of.date()).days)


def is_stale(loan: LoanRow, now: datetime, stale_after_days: int) -> bool:
    if loan.status == PROVISIONAL:
        return False
    exited = loan.exited_at is not None and loan.exited_at <= now
    return exited or age_days(loan, now.date()) > stale_after_days


def label(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA, 27 -> AB, ... (bijective base 26)."""
    text = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        text = chr(ord("A") + rest) + text
    return text


def lender_labels(loans: Iterable[LoanRow], borrower: bytes) -> dict[int, str]:
    """Each lender's label in one report (see the module's docstring)."""
    first_opened: dict[int, date] = {}
    for loan in loans:
        seen = first_opened.get(loan.lender_id)
        if seen is None or loan.opened_on < seen:
            first_opened[loan.lender_id] = loan.opened_on

    def order(lender_id: int) -> tuple[date, bytes]:
        salt = hashlib.sha256(borrower + lender_id.to_bytes(8, "big")).digest()
        return first_opened[lender_id], salt

    return {lender_id: label(i) for i, lender_id in enumerate(sorted(first_opened, key=order))}


def string_months(today: date) -> list[str]:
    """The calendar months (YYYY-MM) of a 24-month string at `today`, oldest first."""
    first = add_months(month_of(today), -(MONTHS - 1))
    return [f"{m.year:04d}-{m.month:02d}" for m in (add_months(first, i) for i in range(MONTHS))]


def _month_text(day: date | None) -> str | None:
    return f"{day.year:04d}-{day.month:02d}" if day is not None else None


@dataclass(frozen=True)
class Tradeline:
    lender: str  # the label
    own: bool
    product: str | None  # None for a provisional loan
    currency: str
    credit_limit: int
    outstanding: int
    amount_past_due: int
    days_past_due: int
    status: str
    special_event: str | None
    opened_month: str
    closed_month: str | None
    last_reported_on: date
    age_days: int
    stale: bool
    status_24m: str
    # Not reported: whose loan it is (the operator's look-up names the lender) and the row.
    lender_id: int
    loan: LoanRow
    provisional_until: date | None = None  # a provisional loan's last day (UTC)
    # Set by `report.obligations`: an open dispute of the loan; and whether the tradeline
    # counts towards the flags (not when its dispute is past its deadline unanswered).
    disputed: bool = False
    counted: bool = True


def _status_24m(loan: LoanRow, this_month: date) -> str:
    if loan.status == PROVISIONAL:
        return ""
    return status_string({month: m.status for month, m in loan.months.items()}, this_month)


def build_tradelines(
    loans: Iterable[LoanRow],
    borrower: bytes,
    caller_id: int,
    now: datetime,
    stale_after_days: int,
    retention_closed_months: int = DEFAULT_RETENTION_CLOSED_MONTHS,
    brought_current: Mapping[tuple[int, str], date] | None = None,
) -> list[Tradeline]:
    """The retained loans as tradelines, by label, then opening date. `brought_current`: the
    day some loans were brought current, by (lender_id, loan_ref), where their months cannot
    tell their retention (`retention_loans.brought_current_days`)."""
    today = now.date()
    cured = brought_current or {}
    kept = [
        loan
        for loan in loans
        if is_retained(loan, today)
        and loan_retained(
            loan, today, retention_closed_months, cured.get((loan.lender_id, loan.loan_ref))
        )
    ]
    labels = lender_labels(kept, borrower)
    this_month = month_of(today)
    kept.sort(
        key=lambda loan: (
            len(labels[loan.lender_id]),
            labels[loan.lender_id],
            loan.opened_on,
            loan.loan_ref,
        )
    )
    return [
        Tradeline(
            lender=labels[loan.lender_id],
            own=loan.lender_id == caller_id,
            product=loan.product,
            currency=loan.currency,
            credit_limit=loan.credit_limit,
            outstanding=loan.outstanding,
            amount_past_due=loan.amount_past_due,
            days_past_due=loan.days_past_due,
            status=loan.status,
            special_event=loan.special_event,
            opened_month=_month_text(loan.opened_on) or "",
            closed_month=_month_text(loan.closed_on) if loan.status != "open" else None,
            last_reported_on=loan.as_of.date(),
            age_days=age_days(loan, today),
            stale=is_stale(loan, now, stale_after_days),
            status_24m=_status_24m(loan, this_month),
            lender_id=loan.lender_id,
            loan=loan,
            provisional_until=(
                loan.provisional_until.date() if loan.provisional_until is not None else None
            ),
        )
        for loan in kept
    ]
