"""`/v1/loans`: the batch of reports, the submission's answer, the caller's own loans."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from registry.models import LoanStatus, Product
from registry.schemas.common import FieldErrorOut, UtcDateTime, _Strict
from registry.services.loan_report import LoanReport
from registry_protocol.wire import PaymentFrequency, RetractionReason, SpecialEvent

MAX_BATCH = 5000  # reports in one POST /v1/loans


def _hex(value: Any) -> Any:
    return value.hex() if isinstance(value, bytes) else value


class LoanBatch(_Strict):
    """`POST /v1/loans`: records are validated one by one (see the 200 response)."""

    loans: Annotated[list[LoanReport], Field(min_length=1, max_length=MAX_BATCH)]


class RejectedRecord(BaseModel):
    index: int = Field(description="position of the record in the request's loans list")
    loan_ref: str | None
    errors: list[FieldErrorOut]


class RecordWarning(BaseModel):
    """A doubt about an accepted record: it is stored, and counts in the data-quality score."""

    index: int = Field(description="position of the record in the request's loans list")
    loan_ref: str
    field: str = Field(description="JSON path of the field in doubt, e.g. loans[3].days_past_due")
    message: str


class SubmissionOut(BaseModel):
    submission_id: str
    accepted: int = Field(
        description="records that created a loan, changed its state or corrected a report"
    )
    unchanged: int = Field(description="records equal to the stored state (a newer as_of is kept)")
    stale: int = Field(description="records older than the stored state; nothing changed")
    rejected: list[RejectedRecord]
    # Default: answers stored before warnings existed replay without them.
    warnings: list[RecordWarning] = Field(
        default_factory=list,
        description="records accepted (or unchanged) despite a consistency doubt",
    )


class LoanOut(BaseModel):
    """One of the caller's loans; built from the stored row (`LoanOut.model_validate(loan)`)."""

    model_config = ConfigDict(from_attributes=True)

    loan_ref: str
    borrower: Annotated[str, BeforeValidator(_hex)]
    product: Product
    currency: str
    principal: int
    outstanding: int
    opened_on: date
    due_on: date | None
    status: LoanStatus
    days_past_due: int
    credit_limit: int
    scheduled_payment: int | None
    payment_frequency: PaymentFrequency | None
    amount_past_due: int
    closed_on: date | None
    special_event: SpecialEvent | None
    written_off_amount: int | None = Field(
        description="the balance of the first report that wrote the loan off, kept after"
    )
    written_off_on: date | None
    as_of: UtcDateTime
    first_reported_at: UtcDateTime
    last_reported_at: UtcDateTime


class RetractionBody(_Strict):
    """`DELETE /v1/loans/<loan_ref>`: why the loan is retracted."""

    reason: Annotated[RetractionReason, Field(strict=False)]


class RetractionOut(BaseModel):
    """The tombstone of a retracted loan."""

    loan_ref: str
    retracted_at: UtcDateTime
    reason: RetractionReason


class LoanPage(BaseModel):
    data: list[LoanOut]
    next_cursor: str | None = Field(
        description="pass as ?cursor= for the next page; null at the end"
    )
