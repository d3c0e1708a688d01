"""`/v1/inquiries`: the request and the over-indebtedness report it answers."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from registry.models import Purpose
from registry.schemas.common import UtcDateTime, _Strict
from registry.services.fields import BorrowerToken, ConsentRef, CurrencyCode, MinorAmount


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


class RequestedOut(BaseModel):
    amount: int = Field(description="the amount the inquiry named, in minor units")
    currency: str


class InquiryReportOut(BaseModel):
    inquiry_id: str
    borrower: str
    generated_at: UtcDateTime
    purpose: Purpose
    requested: RequestedOut | None = Field(
        description="the amount and currency the inquiry named (amount_requested); "
        "null when it named none"
    )
    summary: SummaryOut
    own: OwnOut
    flags: list[FlagOut]
