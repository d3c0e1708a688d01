"""The audit trail of corrected history rows and the tombstones of retracted loans.

A correction replaces a stored history row (same loan, same `as_of`); the row it replaced is
kept here, never shown in reports. A retraction removes a loan and its history from every
report at once; its tombstone keeps who, when and why, keyed by lender like `loan_refs`, so
that the `loan_ref` can be reported anew.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from registry.models.base import Base, Timestamp, Token


class LoanCorrection(Base):
    __tablename__ = "loan_corrections"

    borrower: Mapped[Token] = mapped_column(primary_key=True)
    lender_id: Mapped[int] = mapped_column(ForeignKey("lenders.id"), primary_key=True)
    loan_ref: Mapped[str] = mapped_column(String(64), primary_key=True)
    as_of: Mapped[Timestamp] = mapped_column(primary_key=True)
    corrected_at: Mapped[Timestamp] = mapped_column(primary_key=True)
    # The state the correction replaced (the history row's fields, as JSON values).
    replaced: Mapped[dict[str, Any]] = mapped_column(JSON)
    submission_id: Mapped[str] = mapped_column(String(36))


class LoanRetraction(Base):
    __tablename__ = "loan_retractions"

    lender_id: Mapped[int] = mapped_column(ForeignKey("lenders.id"), primary_key=True)
    loan_ref: Mapped[str] = mapped_column(String(64), primary_key=True)
    retracted_at: Mapped[Timestamp] = mapped_column(primary_key=True)
    borrower: Mapped[Token]
    reason: Mapped[str] = mapped_column(String(32))
    history_rows: Mapped[int]  # how many history rows went with it
    retracted_by: Mapped[str] = mapped_column(String(64))  # the API key's prefix


__all__ = ["LoanCorrection", "LoanRetraction"]
