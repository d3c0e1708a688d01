"""What the registry owes borrowers: disputes of a tradeline, answered by the owning lender
within `dispute_days`, and the borrower's own statement (个人声明) shown with every report."""

from __future__ import annotations

import enum

from sqlalchemy import ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from registry.models.base import Base, Timestamp, Token

__all__ = ["BorrowerStatement", "Dispute", "DisputeResolution", "DisputeStatus"]


class DisputeStatus(enum.StrEnum):
    OPEN = "open"
    ANSWERED = "answered"


class DisputeResolution(enum.StrEnum):
    CONFIRMED = "confirmed"  # the record stands
    CORRECTED = "corrected"  # the lender sent a correction since the dispute opened
    RETRACTED = "retracted"  # the lender retracted the loan since the dispute opened


class Dispute(Base):
    __tablename__ = "disputes"
    __table_args__ = (
        Index("ix_disputes_lender_id_status_due_at", "lender_id", "status", "due_at"),
        Index("ix_disputes_status_due_at", "status", "due_at"),
        # A dispute is named by its id alone (the API's path, the console's page).
        Index("ix_disputes_id", "id"),
    )

    borrower: Mapped[Token] = mapped_column(primary_key=True)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # The loan disputed: its lender answers.
    lender_id: Mapped[int] = mapped_column(ForeignKey("lenders.id"))
    loan_ref: Mapped[str] = mapped_column(String(64))
    # Who opened it: a member lender through one of its inquiries, or an operator.
    opened_by_lender_id: Mapped[int | None] = mapped_column(ForeignKey("lenders.id"))
    opened_by_operator_id: Mapped[int | None] = mapped_column(ForeignKey("operators.id"))
    inquiry_id: Mapped[str | None] = mapped_column(String(36))
    tradeline: Mapped[str] = mapped_column(String(32))  # the label the opener saw
    reason: Mapped[str] = mapped_column(String(500))
    opened_at: Mapped[Timestamp]
    due_at: Mapped[Timestamp]
    status: Mapped[str] = mapped_column(String(16), default=DisputeStatus.OPEN)
    resolution: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(String(500))
    answered_at: Mapped[Timestamp | None]
    borrower_next: Mapped[bytes | None] = mapped_column(LargeBinary(32))


class BorrowerStatement(Base):
    """The borrower's own words about their record, at most 200 characters, one per token."""

    __tablename__ = "borrower_statements"

    borrower: Mapped[Token] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[Timestamp]
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("operators.id"))
    borrower_next: Mapped[bytes | None] = mapped_column(LargeBinary(32))
