"""How money and timestamps are written: ``12,345.67 CNY`` for people, ISO 8601 UTC for the
API."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["format_money", "format_timestamp"]


def format_timestamp(value: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``, e.g. ``2026-11-20T10:00:00Z``. Naive values are refused."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamp must be timezone-aware (e.g. datetime.now(UTC))")
    utc = value.astimezone(UTC)
    spec = "microseconds" if utc.microsecond else "seconds"
    return utc.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


# ISO 4217 currencies whose minor unit is not 1/100 of the major unit.
_MINOR_DIGITS = {
    **dict.fromkeys(
        (
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "UYI",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ),
        0,
    ),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
}


def format_money(minor_units: int, currency: str) -> str:
    """``format_money(1234567, "CNY") == "12,345.67 CNY"`` (minor units to major units)."""
    digits = _MINOR_DIGITS.get(currency.upper(), 2)
    sign = "-" if minor_units < 0 else ""
    major, minor = divmod(abs(minor_units), 10**digits)
    text = f"{major:,}"
    if digits:
        text += f".{minor:0{digits}d}"
    return f"{sign}{text} {currency}"
