"""Field types shared by every request: declared once, with the messages a caller reads
and the JSON Schema the OpenAPI document publishes."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field

from registry.services.currencies import is_currency

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TOKEN = re.compile(r"[0-9a-f]{64}")
_TIMESTAMP_HINT = "must be an ISO 8601 timestamp with an offset, such as 2026-01-31T12:00:00Z"


def _iso_date(value: Any) -> Any:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise ValueError("must be a date written as YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"is not a real date ({exc})") from None


def _utc_timestamp(value: Any) -> Any:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(_TIMESTAMP_HINT) from None
    else:
        raise ValueError(_TIMESTAMP_HINT)
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError(_TIMESTAMP_HINT)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-05:00 is past the last representable day
        raise ValueError("is out of range") from None


def _token(value: str) -> str:
    if not _TOKEN.fullmatch(value):
        raise ValueError("must be a borrower token: 64 lower-case hex characters")
    return value


def _currency(code: str) -> str:
    if not is_currency(code):
        raise ValueError("must be an ISO 4217 currency code in use, such as CNY")
    return code


def _printable(value: str) -> str:
    # Control characters and lone surrogates cannot be stored (PostgreSQL refuses NUL).
    if not value.isprintable():
        raise ValueError("must be printable text, without control characters")
    return value


IsoDate = Annotated[
    date,
    BeforeValidator(_iso_date),
    Field(json_schema_extra={"type": "string", "format": "date"}),
]
UtcTimestamp = Annotated[
    datetime,
    BeforeValidator(_utc_timestamp),
    Field(json_schema_extra={"type": "string", "format": "date-time"}),
]
BorrowerToken = Annotated[
    str,
    AfterValidator(_token),
    Field(
        description="32-byte borrower token as 64 lower-case hex characters",
        json_schema_extra={"pattern": "^[0-9a-f]{64}$"},
    ),
]


def _phone_token(value: str) -> str:
    if not _TOKEN.fullmatch(value):
        raise ValueError("must be a phone token: 64 lower-case hex characters")
    return value


# The borrower's phone, tokenised like the borrower (kind phone): stored apart, never shown.
PhoneToken = Annotated[
    str,
    AfterValidator(_phone_token),
    Field(
        description="the borrower's phone tokenised like the borrower (ID kind phone), as 64 "
        "lower-case hex characters; stored apart and never shown to anyone",
        json_schema_extra={"pattern": "^[0-9a-f]{64}$"},
    ),
]
CurrencyCode = Annotated[
    str,
    AfterValidator(_currency),
    Field(
        description="ISO 4217 currency code in use, e.g. CNY",
        json_schema_extra={"pattern": "^[A-Z]{3}$"},
    ),
]
# A quadrillion minor units (10 trillion yuan) is beyond any loan, and it keeps every sum the
# report makes of a borrower's loans far inside int64 and JavaScript's exact integers (2**53).
MAX_MINOR_UNITS = 10**15
MinorAmount = Annotated[
    int, Field(ge=0, le=MAX_MINOR_UNITS, description="integer minor units, at most 10**15")
]


_PRINTABLE = {"pattern": "^[^\\u0000-\\u001f\\u007f]+$"}
LoanRef = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        json_schema_extra=_PRINTABLE,
        description="the lender's own reference for the loan",
    ),
    AfterValidator(_printable),
]
ConsentRef = Annotated[
    str,
    Field(
        min_length=1,
        max_length=128,
        json_schema_extra=_PRINTABLE,
        description="the applicant's consent reference",
    ),
    AfterValidator(_printable),
]


def is_loan_ref(value: str) -> bool:
    """Whether `value` could be a stored loan_ref (for path parameters and cursors)."""
    return 1 <= len(value) <= 64 and value.isprintable()
