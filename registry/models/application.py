"""Applications' outcomes and the borrower's phone as a secondary identifier.

Every `new_credit` inquiry is an application; its lender records what came of it. An
approved outcome is a *provisional loan*: other lenders see it at once, until the lender
reports a loan with the same `loan_ref` or `provisional_days` (policy) pass.

Phone tokens are made like borrower tokens (pepper + VOPRF, kind `phone`) and are never shown
to anyone. They are kept twice, once keyed by borrower and once keyed by phone, so that both
questions ("which phones has this borrower used", "how many borrowers share this phone") are
answered by one key each, as a table distributed by its first key column needs.
"""

from __future__ import annotations

import enum

from sqlalchemy import ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from registry.models.base import Base, MinorUnits, Timestamp, Token

__all__ = ["ApplicationOutcome", "BorrowerPhone", "Outcome", "PhoneBorrower"]


class Outcome(enum.StrEnum):
    APPROVED = "approved"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"


class ApplicationOutcome(Base):
    """What came of one `new_credit` inquiry; at most one per inquiry."""

    __tablename__ = "application_outcomes"
    __table_args__ = (
        Index("ix_application_outcomes_lender_id_recorded_at", "lender_id", "recorded_at"),
        Index("ix_application_outcomes_lender_id_loan_ref", "lender_id", "loan_ref"),
    )

    borrower: Mapped[Token] = mapped_column(primary_key=True)
    inquiry_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    lender_id: Mapped[int] = mapped_column(ForeignKey("lenders.id"))
    outcome: Mapped[str] = mapped_column(String(16))
    # Approved only: the loan the lender will report, and its amount.
    loan_ref: Mapped[str | None] = mapped_column(String(64))
    amount: Mapped[MinorUnits | None]
    currency: Mapped[str | None] = mapped_column(String(3))
    inquired_at: Mapped[Timestamp]  # the inquiry's created_at, copied for windows
    recorded_at: Mapped[Timestamp]
    # The borrower's token under the next key or pepper, during a rotation window only.
    borrower_next: Mapped[bytes | None] = mapped_column(LargeBinary(32))


class BorrowerPhone(Base):
    """A phone token seen with a borrower (in a loan report or an inquiry), by borrower."""

    __tablename__ = "borrower_phones"

    borrower: Mapped[Token] = mapped_column(primary_key=True)
    phone: Mapped[Token] = mapped_column(primary_key=True)
    first_seen_at: Mapped[Timestamp]
    last_seen_at: Mapped[Timestamp]


class PhoneBorrower(Base):
    """The same sightings, by phone: how many borrowers one phone has been seen with."""

    __tablename__ = "phone_borrowers"

    phone: Mapped[Token] = mapped_column(primary_key=True)
    borrower: Mapped[Token] = mapped_column(primary_key=True)
    first_seen_at: Mapped[Timestamp]
    last_seen_at: Mapped[Timestamp]
