"""Uploads: one row per accepted `POST /v1/loans`, holding the answer a retry gets back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from registry.models.base import Base


class Submission(Base):
    __tablename__ = "submissions"
    __table_args__ = (
        UniqueConstraint("lender_id", "idempotency_key"),
        Index("ix_submissions_lender_id_created_at", "lender_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    lender_id: Mapped[int] = mapped_column(ForeignKey("lenders.id"))
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    # SHA-256 of the canonical request body: the same key with another body is a conflict.
    request_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    records: Mapped[int]
    accepted: Mapped[int]
    unchanged: Mapped[int]
    stale: Mapped[int]
    rejected: Mapped[int]
    # Of `rejected`, the records identical to one this lender had rejected before (earlier in
    # this upload or in an earlier one): the data-quality score counts each bad record once.
    repeated_rejections: Mapped[int] = mapped_column(server_default="0")
    response: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]


class RejectedFingerprint(Base):
    """Each distinct record a lender had rejected: SHA-256 of its canonical JSON. Keyed by
    lender, like `loan_refs`."""

    __tablename__ = "rejected_records"

    lender_id: Mapped[int] = mapped_column(ForeignKey("lenders.id"), primary_key=True)
    fingerprint: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    first_rejected_at: Mapped[datetime]
