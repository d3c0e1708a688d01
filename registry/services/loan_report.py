"""The shape of one loan report, and the rules a single record must pass on its own.

Types and ranges are declared once here (pydantic); the same models give the OpenAPI
schema, so the documented contract and the enforced one cannot drift apart.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)

from registry.models import LoanStatus, Product
from registry.services.currencies import is_currency
from registry.services.errors import FieldError
from registry.services.validation import field_errors

MAX_FUTURE_SKEW = timedelta(minutes=5)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_date(value: Any) -> Any:
    if isinstance(value, str):
        if not _DATE.fullmatch(value):
            raise ValueError("must be a date written as YYYY-MM-DD")
        try:
            return date.fromisoformat(value)
        except ValueError as exc:
            raise ValueError(f"is not a real date ({exc})") from None
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    raise ValueError("must be a date written as YYYY-MM-DD")


def _utc_timestamp(value: Any) -> Any:
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError("must be an ISO 8601 timestamp such as 2026-01-31T12:00:00Z") from None
    elif isinstance(value, datetime):
        parsed = value
    else:
        raise ValueError("must be an ISO 8601 timestamp such as 2026-01-31T12:00:00Z")
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError("must carry a UTC offset, for example 2026-01-31T12:00:00Z")
    return parsed.astimezone(UTC)


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
    StringConstraints(pattern=r"^[0-9a-f]{64}$"),
    Field(description="32-byte borrower token as 64 lower-case hex characters"),
]


def _known_currency(code: str) -> str:
    if not is_currency(code):
        raise ValueError("is not an ISO 4217 currency code in use")
    return code


CurrencyCode = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z]{3}$"),
    AfterValidator(_known_currency),
    Field(description="ISO 4217 currency code in use, e.g. CNY"),
]
MinorAmount = Annotated[int, Field(ge=0, le=2**63 - 1, description="integer minor units")]
LoanRefStr = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class LoanReport(BaseModel):
    """A loan's full current state as of `as_of`."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    loan_ref: LoanRefStr
    borrower: BorrowerToken
    product: Annotated[Product, Field(strict=False)]
    currency: CurrencyCode
    principal: MinorAmount
    outstanding: MinorAmount
    opened_on: IsoDate
    due_on: IsoDate | None = None
    status: Annotated[LoanStatus, Field(strict=False)]
    days_past_due: Annotated[int, Field(ge=0, le=100_000)]
    as_of: UtcTimestamp

    def state(self) -> tuple[Any, ...]:
        """The content that decides "unchanged": everything but the keys and as_of."""
        return (
            self.product,
            self.currency,
            self.principal,
            self.outstanding,
            self.opened_on,
            self.due_on,
            self.status,
            self.days_past_due,
        )


def parse_record(raw: Any, path: str, now: datetime) -> tuple[LoanReport | None, list[FieldError]]:
    """Validate one record. Returns the report, or None and the field errors naming `path`."""
    if not isinstance(raw, dict):
        return None, [FieldError(path, "must be an object")]
    try:
        report = LoanReport.model_validate(raw)
    except ValidationError as exc:
        return None, field_errors(exc, path)
    errors = []
    if report.due_on is None and report.product != Product.CREDIT_LINE:
        errors.append(FieldError(f"{path}.due_on", "required unless product is credit_line"))
    if report.due_on is not None and report.due_on < report.opened_on:
        errors.append(FieldError(f"{path}.due_on", "must not be before opened_on"))
    if report.days_past_due and report.status == LoanStatus.CLOSED:
        errors.append(FieldError(f"{path}.days_past_due", "must be 0 for a closed loan"))
    if report.as_of > now + MAX_FUTURE_SKEW:
        errors.append(FieldError(f"{path}.as_of", "must not be more than 5 minutes in the future"))
    return (None, errors) if errors else (report, [])


def loan_ref_of(raw: Any) -> str | None:
    """The record's loan_ref if it has a usable one, for naming a rejected record."""
    if isinstance(raw, dict) and isinstance(raw.get("loan_ref"), str):
        return str(raw["loan_ref"])[:64]
    return None
