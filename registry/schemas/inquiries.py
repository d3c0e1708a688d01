"""`/v1/inquiries`: the request and the over-indebtedness report it answers."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from registry.models import Outcome, Purpose
from registry.schemas.common import UtcDateTime, _Strict
from registry.services.fields import (
    MAX_MINOR_UNITS,
    BorrowerToken,
    ConsentRef,
    CurrencyCode,
    LoanRef,
    MinorAmount,
    PhoneToken,
)


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
    phone_token: PhoneToken | None = None


class OutcomeBody(_Strict):
    """`POST /v1/inquiries/<inquiry_id>/outcome`: what came of an application."""

    outcome: Annotated[Outcome, Field(strict=False)]
    loan_ref: LoanRef | None = Field(
        default=None,
        description="approved only (required): the loan_ref the loan will be reported with",
    )
    amount: Annotated[int, Field(gt=0, le=MAX_MINOR_UNITS)] | None = Field(
        default=None, description="approved only (required): the amount lent, in minor units"
    )
    currency: CurrencyCode | None = Field(
        default=None, description="approved only (required): the currency of amount"
    )


class OutcomeOut(BaseModel):
    """An application's outcome as recorded."""

    inquiry_id: str
    outcome: Outcome
    loan_ref: str | None
    amount: int | None
    currency: str | None
    inquired_at: UtcDateTime = Field(description="when the inquiry was made")
    recorded_at: UtcDateTime = Field(description="when the outcome was first recorded")
    provisional_until: UtcDateTime | None = Field(
        description="approved only: until when other lenders see the loan as provisional "
        "unless it is reported first (recorded_at + the policy's provisional_days)"
    )


Windows = Literal["1h", "24h", "1d", "7d", "30d", "90d"]


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
    other_lenders_inquiring: dict[Windows, int] = Field(
        description="distinct other lenders with new_credit inquiries in the last hour, 24 "
        "hours, day, 7, 30 and 90 days (an inquiry exactly that old included)"
    )
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
    pending_applications: int = Field(
        description="other lenders' new_credit inquiries in the last 7 days with no outcome yet"
    )
    pending_amount: PerCurrency = Field(
        description="the amounts those pending applications requested, per currency"
    )
    provisional_loans: int = Field(
        description="other lenders' provisional loans: approved applications not yet reported"
    )
    provisional_amount: PerCurrency = Field(
        description="the provisional loans' approved amounts, per currency"
    )
    # Default: reports recorded before disputes existed replay without it.
    disputed_tradelines: int = Field(
        default=0, description="tradelines with an open dispute (disputed: true)"
    )


class TradelineOut(BaseModel):
    """One loan of the borrower's, its lender hidden behind a label."""

    lender: str = Field(description="A, B, ...: stable within this report, meaningless outside")
    own: bool = Field(description="the caller's own loan")
    product: str | None = Field(description="null for a provisional loan")
    currency: str
    credit_limit: int
    outstanding: int
    amount_past_due: int
    days_past_due: int
    status: str = Field(
        description="open, closed, written_off, or provisional: an approved application of "
        "another lender, not yet reported"
    )
    special_event: str | None
    opened_month: Month
    closed_month: Month | None
    last_reported_on: date = Field(description="the date (UTC) of the latest report")
    age_days: int = Field(description="days since last_reported_on")
    stale: bool
    status_24m: str = Field(
        pattern="^(.{24})?$",
        description="one character per calendar month, oldest first, ending with this "
        "month: N no report, 0 current, C closed, 1 1-30 days past due, 2 31-60, 3 61-90, "
        '4 91-120, 5 121-150, 6 151-180, 7 over 180, W written off; "" for a provisional '
        "loan",
    )
    # Default: tradelines recorded before provisional loans existed replay without it.
    provisional_until: date | None = Field(
        default=None,
        description="a provisional loan's last day (UTC) unless reported first; null for a "
        "reported loan",
    )
    disputed: bool = Field(
        default=False,
        description="the borrower disputes this record and its lender has not answered yet; "
        "past the answer's deadline it counts towards no flag",
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
        "APPLICATION_BURST",
        "PENDING_ELSEWHERE",
        "SHARED_PHONE",
    ]
    detail: str


class IdentityOut(BaseModel):
    """Signals about the borrower's identity from their phone tokens (never the tokens)."""

    phones_90d: int = Field(
        description="distinct phones seen with this borrower, at any lender, in 90 days"
    )
    max_borrowers_per_phone: int = Field(
        description="the most distinct borrowers (this one included) seen in 90 days with one "
        "of those phones; 0 without a phone"
    )


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
        "loans with negative history for 5 years; and other lenders' provisional loans"
    )
    identity: IdentityOut
    flags: list[FlagOut]
    statement: str | None = Field(
        default=None,
        description="the borrower's own statement about their record (at most 200 "
        "characters), null when they have none",
    )
