"""The shape of one loan report, and the rules a single record must pass on its own.

Types and ranges are declared once here (pydantic); the same models give the OpenAPI
schema, so the documented contract and the enforced one cannot drift apart.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from registry.models import LoanStatus, Product
from registry.services.errors import FieldError
from registry.services.fields import (
    BorrowerToken,
    CurrencyCode,
    IsoDate,
    LoanRef,
    MinorAmount,
    UtcTimestamp,
)
from registry.services.validation import field_errors

MAX_FUTURE_SKEW = timedelta(minutes=5)


class LoanReport(BaseModel):
    """A loan's full current state as of `as_of`."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    loan_ref: LoanRef
    borrower: BorrowerToken
    # The same borrower's token under the next key or pepper, during a rotation window.
    borrower_next: BorrowerToken | None = None
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
    # A day of slack: a lender's local opening date may run ahead of the UTC date.
    if report.opened_on > report.as_of.date() + timedelta(days=1):
        errors.append(FieldError(f"{path}.opened_on", "must not be after the as_of date"))
    if report.as_of > now + MAX_FUTURE_SKEW:
        errors.append(FieldError(f"{path}.as_of", "must not be more than 5 minutes in the future"))
    return (None, errors) if errors else (report, [])


def loan_ref_of(raw: Any) -> str | None:
    """The record's loan_ref if it has a usable one, for naming a rejected record."""
    if isinstance(raw, dict) and isinstance(raw.get("loan_ref"), str):
        return str(raw["loan_ref"])[:64]
    return None
