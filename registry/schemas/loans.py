"""`/v1/loans`: the batch of reports, the submission's answer, the caller's own loans."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, Field

from registry.models import LoanStatus, Product
from registry.schemas.common import FieldErrorOut, _Strict
from registry.services.loan_report import LoanReport
from registry.services.reporting import MAX_BATCH


class LoanBatch(_Strict):
    """`POST /v1/loans`: records are validated one by one (see the 200 response)."""

    loans: Annotated[list[LoanReport], Field(min_length=1, max_length=MAX_BATCH)]


class RejectedRecord(BaseModel):
    index: int = Field(description="position of the record in the request's loans list")
    loan_ref: str | None
    errors: list[FieldErrorOut]


class SubmissionOut(BaseModel):
    submission_id: str
    accepted: int = Field(description="records that created a loan or changed its state")
    unchanged: int = Field(description="records equal to the stored state (a newer as_of is kept)")
    stale: int = Field(description="records older than the stored state; nothing changed")
    rejected: list[RejectedRecord]


class LoanOut(BaseModel):
    loan_ref: str
    borrower: str
    product: Product
    currency: str
    principal: int
    outstanding: int
    opened_on: date
    due_on: date | None
    status: LoanStatus
    days_past_due: int
    as_of: datetime
    first_reported_at: datetime
    last_reported_at: datetime


class LoanPage(BaseModel):
    data: list[LoanOut]
    next_cursor: str | None = Field(
        description="pass as ?cursor= for the next page; null at the end"
    )
