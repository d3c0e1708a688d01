"""Enumerations that travel on the wire: both sides validate and parse with these values."""

from __future__ import annotations

import enum

__all__ = ["FlagCode", "LoanStatus", "Product", "Purpose"]


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
    APPLICATION_SPREE = "APPLICATION_SPREE"
    PAST_DUE_ELSEWHERE = "PAST_DUE_ELSEWHERE"
    WRITTEN_OFF = "WRITTEN_OFF"
    RAPID_BORROWING = "RAPID_BORROWING"
