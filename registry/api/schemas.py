"""Request and response models of the `/v1` API. They validate input and, through
`registry.api.openapi`, are the published schema: one definition for both."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from registry.models import LoanStatus, Product, Purpose
from registry.services.fields import BorrowerToken, ConsentRef, CurrencyCode, MinorAmount
from registry.services.loan_report import LoanReport
from registry.services.reporting import MAX_BATCH
from registry.services.tokens import MAX_ELEMENTS


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class InquiryBody(_Strict):
    """`POST /v1/inquiries`."""

    borrower: BorrowerToken
    borrower_next: BorrowerToken | None = Field(
        default=None,
        description="the borrower's token under the next key or pepper; "
        "only while a rotation window is open (GET /v1/tokens/key)",
    )
    purpose: Annotated[Purpose, Field(strict=False)]
    consent_ref: ConsentRef | None = Field(
        default=None, description="the applicant's consent reference; required for new_credit"
    )
    amount_requested: MinorAmount | None = None
    currency: CurrencyCode | None = Field(
        default=None, description="currency of amount_requested; required with it"
    )


class LoanBatch(_Strict):
    """`POST /v1/loans`: records are validated one by one (see the 200 response)."""

    loans: Annotated[list[LoanReport], Field(min_length=1, max_length=MAX_BATCH)]


class FieldErrorOut(BaseModel):
    field: str = Field(description="JSON path of the offending value, e.g. loans[3].due_on")
    message: str


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


Windows = Literal["1d", "7d", "30d", "90d"]


class SummaryOut(BaseModel):
    open_loans: int
    lenders_with_open_loans: int
    other_lenders_with_open_loans: int
    outstanding: dict[str, int] = Field(description="open loans' outstanding, per currency")
    max_days_past_due: int
    past_due_loans: int
    written_off_loans: int
    loans_opened_last_30d: int
    other_lenders_inquiring: dict[Windows, int]


class OwnOut(BaseModel):
    open_loans: int
    outstanding: dict[str, int]


class FlagOut(BaseModel):
    code: Literal[
        "MULTI_LENDER", "APPLICATION_SPREE", "PAST_DUE_ELSEWHERE", "WRITTEN_OFF", "RAPID_BORROWING"
    ]
    detail: str


class InquiryReportOut(BaseModel):
    inquiry_id: str
    borrower: str
    generated_at: datetime
    purpose: Purpose
    summary: SummaryOut
    own: OwnOut
    flags: list[FlagOut]


class ProblemOut(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    request_id: str | None = None
    errors: list[FieldErrorOut] | None = None


class TokenEvaluateBody(_Strict):
    """`POST /v1/tokens/evaluate`: RFC 9497 VOPRF BlindEvaluateBatch."""

    blinded_elements: Annotated[
        list[Any],
        Field(
            min_length=1,
            max_length=MAX_ELEMENTS,
            description="blinded ristretto255 elements, 64 lower-case hex characters each",
        ),
    ]
    key_id: str | None = Field(
        default=None,
        max_length=32,
        description="the key to evaluate under: the current one by default, or the next one "
        "during a key rotation window",
    )


class PublishedKeyOut(BaseModel):
    key_id: str
    public_key: str = Field(description="the key's ristretto255 public key, 64 hex characters")


class NextKeyOut(PublishedKeyOut):
    pepper_fingerprint: str | None = Field(
        description="the fingerprint of the pepper to make next tokens with, when recorded"
    )


class RotationOut(BaseModel):
    kind: str = Field(description="'key' (a new registry key) or 'pepper' (a new pepper)")
    label: str
    opened_at: str
    next: NextKeyOut


class TokenKeyOut(BaseModel):
    suite: str = Field(description="always ristretto255-SHA512")
    mode: str = Field(description="always voprf (RFC 9497 mode 0x01)")
    key_id: str
    public_key: str
    pepper_fingerprint: str | None = Field(
        description="16 hex: HMAC-SHA256(pepper, 'lender-client pepper fingerprint v1'), "
        "truncated; an SDK refuses to make tokens with a pepper that does not match it"
    )
    rotation: RotationOut | None = Field(
        description="set while a rotation window is open: send borrower_next with every "
        "report and inquiry"
    )


class TokenEvaluationOut(BaseModel):
    key_id: str
    evaluated_elements: list[str]
    proof: str = Field(description="one batched DLEQ proof (c || s), 128 hex characters")
