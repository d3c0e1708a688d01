"""Inquiries: who asked about which borrower token, when, why and under which consent."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from registry.models.base import Base, MinorUnits, Timestamp, Token
from registry_protocol.wire import Purpose

__all__ = ["Inquiry", "InquiryKey", "Purpose"]


class Inquiry(Base):
    __tablename__ = "inquiries"
    __table_args__ = (
        Index("ix_inquiries_borrower_created_at", "borrower", "created_at"),
        Index("ix_inquiries_lender_id_created_at", "lender_id", "created_at"),
        Index("ix_inquiries_created_at", "created_at"),
        # An outcome names its inquiry by id alone (and only its own lender may).
        Index("ix_inquiries_lender_id_id", "lender_id", "id"),
    )

    borrower: Mapped[Token] = mapped_column(primary_key=True)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    lender_id: Mapped[int] = mapped_column(ForeignKey("lenders.id"))
    purpose: Mapped[str] = mapped_column(String(16))
    consent_ref: Mapped[str | None] = mapped_column(String(128))
    amount_requested: Mapped[MinorUnits | None]
    currency: Mapped[str | None] = mapped_column(String(3))
    flags: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[Timestamp]
    # The report as it was answered, for audit, disputes and idempotent retries; without
    # the borrower's token, which is `borrower` (so that a token rotation leaves none behind).
    report: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The borrower's token under the next key or pepper, during a rotation window only.
    borrower_next: Mapped[bytes | None] = mapped_column(LargeBinary(32))


class InquiryKey(Base):
    """An inquiry's Idempotency-Key, keyed by lender (like `loan_refs`, apart from the
    token-distributed tables): a key names one request of that lender, whatever borrower."""

    __tablename__ = "inquiry_keys"
    # The retention run finds the keys of inquiries past retention by their age.
    __table_args__ = (Index("ix_inquiry_keys_created_at", "created_at"),)

    lender_id: Mapped[int] = mapped_column(ForeignKey("lenders.id"), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    borrower: Mapped[Token]
    inquiry_id: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[Timestamp]
