"""The 24-month payment-status string of a tradeline: one character per calendar month, oldest
month first, for the worst state reported in that month.

====  =====================================
``N``  no report that month
``0``  current (0 days past due)
``C``  closed
``1``  1-30 days past due
``2``  31-60 days past due
``3``  61-90, ``4`` 91-120, ``5`` 121-150, ``6`` 151-180 days past due
``7``  over 180 days past due
``W``  written off
====  =====================================

"Worst" follows :data:`SEVERITY`: a month in which a loan was both current and closed shows
``C`` (the closure is news), any delinquency outranks a closure, and a write-off outranks all.

>>> month_status("open", 45)
'2'
>>> worse("C", "1")
'1'
"""

from __future__ import annotations

from datetime import date

__all__ = [
    "MONTHS",
    "NO_REPORT",
    "SEVERITY",
    "add_months",
    "delinquency_bucket",
    "month_of",
    "month_status",
    "status_string",
    "worse",
]

MONTHS = 24
NO_REPORT = "N"
# Least to worst. N (no report) is not a state: it never replaces one.
SEVERITY = ("0", "C", "1", "2", "3", "4", "5", "6", "7", "W")
_RANK = {character: rank for rank, character in enumerate(SEVERITY)}


def delinquency_bucket(days_past_due: int) -> str:
    """'0' for current, '1' for 1-30 days past due, ... '7' for over 180."""
    if days_past_due <= 0:
        return "0"
    return str(min(7, (days_past_due + 29) // 30))


def month_status(status: str, days_past_due: int) -> str:
    """The character one report gives its month (before taking the month's worst)."""
    if status == "written_off":
        return "W"
    if status == "closed":
        return "C" if days_past_due <= 0 else delinquency_bucket(days_past_due)
    return delinquency_bucket(days_past_due)


def worse(a: str, b: str) -> str:
    """The worse of two month characters (N, no report, loses to anything)."""
    if a == NO_REPORT:
        return b
    if b == NO_REPORT:
        return a
    return a if _RANK[a] >= _RANK[b] else b


def month_of(day: date) -> date:
    """The first day of `day`'s calendar month: how months are stored and compared."""
    return day.replace(day=1)


def add_months(month: date, count: int) -> date:
    """The first day of the month `count` months after (or before, if negative) `month`."""
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def status_string(by_month: dict[date, str], last_month: date, months: int = MONTHS) -> str:
    """The string for the `months` calendar months ending with `last_month` (oldest first),
    from the worst character of each month (keys are first days of months)."""
    first = add_months(month_of(last_month), -(months - 1))
    return "".join(by_month.get(add_months(first, i), NO_REPORT) for i in range(months))
