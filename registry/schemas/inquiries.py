"""`/v1/inquiries`: the request and the over-indebtedness report it answers."""

from __future__ import annotations

from datetime import date
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


PerCurrency = dict[str, int]
Month = Annotated[str, Field(pattern=r"^[0-9]{4}-[0-9]{2}$", description="YYYY-MM")]


class SummaryOut(BaseModel):
    open_loans: int
    lenders_with_open_loans: int
    other_lenders_with_open_loans: int
    outstanding: PerCurrency = Field(description="open loans' outstanding, per currency")
    max_days_past_due: int = Field(description="the worst days past due of an open loan now")
    past_due_loans: int
    written_off_loans: int = Field(
        description="loans written off within the retention period, those later repaid or "
        "closed included"
    )
    loans_opened_last_30d: int
    other_lenders_inquiring: dict[Windows, int]
    worst_days_past_due_12m: int = Field(
        description="worst days past due of any loan in the 12 calendar months ending with "
        "this one, whatever its status now"
    )
    worst_days_past_due_24m: int = Field(description="the same over 24 calendar months")
    last_delinquent_on: date | None = Field(
        description="the latest date a loan was reported past due; null if never"
    )
    written_off_amount: PerCurrency = Field(
        description="the amounts written off (as first written off), per currency"
    )
    amount_past_due: PerCurrency = Field(description="open loans' amount past due, per currency")
    monthly_obligations: PerCurrency = Field(
        description="open loans' scheduled payments normalised to a month (weekly x 52/12, "
        "biweekly x 26/12, monthly x 1, single x 1), summed exactly and rounded once, half up"
    )
    credit_limit: PerCurrency = Field(description="open revolving lines' limits, per currency")
    utilisation: dict[str, str] = Field(
        description='open revolving lines\' outstanding over their limits, e.g. "0.4250" '
        "(4 decimals, half up), per currency"
    )
    outstanding_with_request: PerCurrency | None = Field(
        description="outstanding plus the amount requested, per currency; null when the "
        "inquiry named no amount"
    )
    lenders_opened_30d: int = Field(description="distinct lenders that opened loans in 30 days")
    lenders_opened_90d: int
    lenders_opened_180d: int
    loans_closed_90d: int = Field(description="loans closed (not written off) in 90 days")
    stale_open_loans: int = Field(
        description="open loans whose latest report is older than the policy's "
        "stale_after_days, or whose lender has exited"
    )


class TradelineOut(BaseModel):
    """One loan of the borrower's, its lender hidden behind a label."""

    lender: str = Field(description="A, B, ...: stable within this report, meaningless outside")
    own: bool = Field(description="the caller's own loan")
    product: str
    currency: str
    credit_limit: int
    outstanding: int
    amount_past_due: int
    days_past_due: int
    status: str
    special_event: str | None
    opened_month: Month
    closed_month: Month | None
    last_reported_on: date = Field(description="the date (UTC) of the latest report")
    age_days: int = Field(description="days since last_reported_on")
    stale: bool
    status_24m: str = Field(
        min_length=24,
        max_length=24,
        description="one character per calendar month, oldest first, ending with this "
        "month: N no report, 0 current, C closed, 1 1-30 days past due, 2 31-60, 3 61-90, "
        "4 91-120, 5 121-150, 6 151-180, 7 over 180, W written off",
    )


class OwnOut(BaseModel):
    open_loans: int
    outstanding: dict[str, int]


class FlagOut(BaseModel):
    code: Literal[
        "MULTI_LENDER",
        "APPLICATION_SPREE",
        "PAST_DUE_ELSEWHERE",
        "WRITTEN_OFF",
        "RAPID_BORROWING",
        "LOAN_CYCLING",
        "PAST_DUE_HISTORY",
        "HIGH_UTILISATION",
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
    tradelines: list[TradelineOut] = Field(
        description="one per loan: open loans, closed loans for 24 months after closing, "
        "loans with negative history for 5 years"
    )
    flags: list[FlagOut]
