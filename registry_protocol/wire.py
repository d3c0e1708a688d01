"""Enumerations that travel on the wire: both sides validate and parse with these values."""

from __future__ import annotations

import enum

__all__ = [
    "REVOLVING_PRODUCTS",
    "FlagCode",
    "LoanStatus",
    "PaymentFrequency",
    "Product",
    "Purpose",
    "RetractionReason",
    "SpecialEvent",
]


class Product(enum.StrEnum):
    CASH_LOAN = "cash_loan"
    INSTALLMENT = "installment"
    CREDIT_LINE = "credit_line"
    BNPL = "bnpl"
    AUTO = "auto"
    MORTGAGE = "mortgage"
    OTHER = "other"


class LoanStatus(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    WRITTEN_OFF = "written_off"


class Purpose(enum.StrEnum):
    """Why an inquiry is made. ``new_credit`` (a hard inquiry, counted for later callers)
    needs the applicant's consent reference; ``account_review`` is for a borrower the caller
    already holds a loan with, recorded for audit and never counted."""

    NEW_CREDIT = "new_credit"
    ACCOUNT_REVIEW = "account_review"


class FlagCode(enum.StrEnum):
    """The flags a report may raise; the operator's policy sets their thresholds."""

    MULTI_LENDER = "MULTI_LENDER"
    RAPID_BORROWING = "RAPID_BORROWING"
    LOAN_CYCLING = "LOAN_CYCLING"
    PAST_DUE_HISTORY = "PAST_DUE_HISTORY"
    WRITTEN_OFF = "WRITTEN_OFF"
    HIGH_UTILISATION = "HIGH_UTILISATION"
    PAST_DUE_ELSEWHERE = "PAST_DUE_ELSEWHERE"
    APPLICATION_SPREE = "APPLICATION_SPREE"
    APPLICATION_BURST = "APPLICATION_BURST"
    PENDING_ELSEWHERE = "PENDING_ELSEWHERE"
    SHARED_PHONE = "SHARED_PHONE"


class PaymentFrequency(enum.StrEnum):
    """How often `scheduled_payment` falls due; the report normalises it to a month."""

    WEEKLY = "weekly"
    BIWEEKLY = "biweekly"
    MONTHLY = "monthly"
    SINGLE = "single"


class SpecialEvent(enum.StrEnum):
    """Something that happened to a loan beyond its status (Metro 2's special comments)."""

    EXTENDED = "extended"  # 展期: the due date was pushed out
    RESTRUCTURED = "restructured"
    SETTLED_FOR_LESS = "settled_for_less"
    REPAID_AFTER_WRITE_OFF = "repaid_after_write_off"
    TRANSFERRED = "transferred"


class RetractionReason(enum.StrEnum):
    """Why a lender retracts a loan it reported (`DELETE /v1/loans/<loan_ref>`)."""

    REPORTED_IN_ERROR = "reported_in_error"
    WRONG_BORROWER = "wrong_borrower"
    DUPLICATE = "duplicate"


# Products whose limit is a line the borrower draws on (and repays and draws again): their
# `credit_limit` is required, and they count towards utilisation.
REVOLVING_PRODUCTS: frozenset[str] = frozenset({Product.CREDIT_LINE})
