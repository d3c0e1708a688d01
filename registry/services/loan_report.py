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
    PhoneToken,
    UtcTimestamp,
)
from registry.services.validation import field_errors
from registry_protocol.wire import REVOLVING_PRODUCTS, PaymentFrequency, SpecialEvent

MAX_FUTURE_SKEW = timedelta(minutes=5)
# An open loan this many days past its due_on with no day past due and no `extended` event is
# accepted with a warning (a lender that forgot to age the loan, or a missing extension).
OVERDUE_GRACE_DAYS = 5
OVERDUE_WARNING = (
    f"the loan is open and more than {OVERDUE_GRACE_DAYS} days past its due_on, yet no day is "
    "past due and no 'extended' special_event says the due date moved"
)


class LoanReport(BaseModel):
    """A loan's full current state as of `as_of`."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    loan_ref: LoanRef
    borrower: BorrowerToken
    # The same borrower's token under the next key or pepper, during a rotation window.
    borrower_next: BorrowerToken | None = None
    # A secondary identifier: kept apart (registry.services.loans.record_phones), never
    # part of the loan's state, never shown.
    phone_token: PhoneToken | None = None
    product: Annotated[Product, Field(strict=False)]
    currency: CurrencyCode
    principal: MinorAmount
    outstanding: MinorAmount
    opened_on: IsoDate
    due_on: IsoDate | None = None
    status: Annotated[LoanStatus, Field(strict=False)]
    days_past_due: Annotated[int, Field(ge=0, le=100_000)]
    as_of: UtcTimestamp
    credit_limit: Annotated[
        MinorAmount | None,
        Field(
            description="the line's limit: required for revolving products (credit_line); "
            "an instalment loan's defaults to its principal"
        ),
    ] = None
    scheduled_payment: Annotated[
        MinorAmount | None,
        Field(description="the instalment due each period (with payment_frequency)"),
    ] = None
    payment_frequency: Annotated[PaymentFrequency | None, Field(strict=False)] = None
    amount_past_due: Annotated[
        MinorAmount | None,
        Field(description="required when days_past_due > 0; 0 (or absent) otherwise"),
    ] = None
    closed_on: Annotated[
        IsoDate | None,
        Field(description="required for closed and written_off (the write-off date)"),
    ] = None
    special_event: Annotated[SpecialEvent | None, Field(strict=False)] = None
    correction: Annotated[
        bool,
        Field(description="replace the stored report of this loan with the same as_of"),
    ] = False

    @property
    def limit(self) -> int:
        """The stored credit limit: as sent, or the principal of an instalment loan."""
        return self.principal if self.credit_limit is None else self.credit_limit

    def state(self) -> tuple[Any, ...]:
        """The content that decides "unchanged": everything but the keys and as_of, in the
        order of `STATE_FIELDS`."""
        return (
            self.product,
            self.currency,
            self.principal,
            self.outstanding,
            self.opened_on,
            self.due_on,
            self.status,
            self.days_past_due,
            self.limit,
            self.scheduled_payment,
            self.payment_frequency,
            self.amount_past_due or 0,
            self.closed_on,
            self.special_event,
        )

    def warnings(self) -> list[tuple[str, str]]:
        """Consistency doubts that do not reject the record: (field name, message)."""
        if (
            self.status == LoanStatus.OPEN
            and self.due_on is not None
            and self.days_past_due == 0
            and self.special_event != SpecialEvent.EXTENDED
            and self.as_of.date() > self.due_on + timedelta(days=OVERDUE_GRACE_DAYS)
        ):
            return [("days_past_due", OVERDUE_WARNING)]
        return []


def parse_record(raw: Any, path: str, now: datetime) -> tuple[LoanReport | None, list[FieldError]]:
    """Validate one record. Returns the report, or None and the field errors naming `path`."""
    if not isinstance(raw, dict):
        return None, [FieldError(path, "must be an object")]
    try:
        report = LoanReport.model_validate(raw)
    except ValidationError as exc:
        return None, field_errors(exc, path)
    errors = _rules(report, path)
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


def _rules(report: LoanReport, path: str) -> list[FieldError]:
    """The rules between the tradeline fields (issue 9), each a field error."""
    errors: list[FieldError] = []

    def error(field: str, message: str) -> None:
        errors.append(FieldError(f"{path}.{field}", message))

    if report.credit_limit is None and report.product in REVOLVING_PRODUCTS:
        error("credit_limit", f"required for a revolving product ({report.product})")
    if report.scheduled_payment is not None and report.payment_frequency is None:
        error("payment_frequency", "required with scheduled_payment")
    if report.payment_frequency is not None and report.scheduled_payment is None:
        error("scheduled_payment", "required with payment_frequency")
    past_due = report.amount_past_due
    if report.status == LoanStatus.CLOSED:
        # Nothing past due on a closed loan (its days_past_due must be 0, checked below).
        if report.outstanding:
            error("outstanding", "must be 0 for a closed loan")
        if past_due:
            error("amount_past_due", "must be 0 for a closed loan")
    elif report.days_past_due > 0 and past_due is None:
        error("amount_past_due", "required when days_past_due > 0")
    elif report.days_past_due > 0 and past_due == 0:
        error("amount_past_due", "must be more than 0 when days_past_due > 0")
    elif report.days_past_due == 0 and past_due:
        error("amount_past_due", "must be 0 when days_past_due is 0")
    if past_due and past_due > report.outstanding:
        error("amount_past_due", "must not exceed outstanding")
    closing = report.status in (LoanStatus.CLOSED, LoanStatus.WRITTEN_OFF)
    if closing and report.closed_on is None:
        error("closed_on", f"required for a {report.status} loan")
    if not closing and report.closed_on is not None:
        error("closed_on", "must be absent for an open loan")
    if report.closed_on is not None:
        if report.closed_on < report.opened_on:
            error("closed_on", "must not be before opened_on")
        if report.closed_on > report.as_of.date():
            error("closed_on", "must not be after the as_of date")
    if report.status == LoanStatus.WRITTEN_OFF and report.outstanding == 0:
        error("outstanding", "must keep the balance written off (more than 0)")
    first: dict[str, FieldError] = {}
    for each in errors:  # one error per field: the first rule it broke
        first.setdefault(each.field, each)
    return list(first.values())


def loan_ref_of(raw: Any) -> str | None:
    """The record's loan_ref if it has a usable one, for naming a rejected record."""
    if isinstance(raw, dict) and isinstance(raw.get("loan_ref"), str):
        return str(raw["loan_ref"])[:64]
    return None
