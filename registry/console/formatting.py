"""Template filters: UTC timestamps, money in major units, counts."""

from __future__ import annotations

from datetime import UTC, date, datetime

from registry.services.currencies import MINOR_UNIT_EXPONENT


def utc(moment: datetime | date | None) -> str:
    """ISO 8601 in UTC, to the second, with a Z; a date as YYYY-MM-DD; None as a dash."""
    if moment is None:
        return "-"
    if isinstance(moment, datetime):
        return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return moment.isoformat()


def money(amount: int | None, currency: str | None) -> str:
    """Integer minor units shown with the currency's exponent: 2520000 CNY -> 25,200.00 CNY."""
    if amount is None:
        return "-"
    code = currency or ""
    exponent = MINOR_UNIT_EXPONENT.get(code, 0)
    sign = "-" if amount < 0 else ""
    whole, fraction = divmod(abs(amount), 10**exponent)
    text = f"{sign}{whole:,}" + (f".{fraction:0{exponent}d}" if exponent else "")
    return f"{text} {code}".strip()


def number(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"
