"""Borrower-token keys: public halves, rotation windows and per-lender evaluation counts.

The OPRF secret keys themselves never enter the database; `registry.signer` holds them.
"""

from __future__ import annotations

import enum
from datetime import date

from sqlalchemy import BigInteger, ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from registry.models.base import Base, Timestamp


class KeyState(enum.StrEnum):
    CURRENT = "current"  # the key every token is made under
    NEXT = "next"  # published during a key rotation window
    RETIRED = "retired"  # destroyed; kept as a row so that its id is never reused


class RotationKind(enum.StrEnum):
    KEY = "key"  # a new registry OPRF key
    PEPPER = "pepper"  # a new consortium pepper, same OPRF key


class TokenKey(Base):
    __tablename__ = "token_keys"

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    state: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[Timestamp]
    retired_at: Mapped[Timestamp | None]


class TokenRotation(Base):
    """A window during which every report and inquiry carries two tokens per borrower."""

    __tablename__ = "token_rotations"
    __table_args__ = (Index("ix_token_rotations_closed_at", "closed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(64), default="")
    current_key_id: Mapped[str] = mapped_column(ForeignKey("token_keys.key_id"))
    next_key_id: Mapped[str] = mapped_column(ForeignKey("token_keys.key_id"))
    opened_at: Mapped[Timestamp]
    closed_at: Mapped[Timestamp | None]
    outcome: Mapped[str | None] = mapped_column(String(16))  # "retired" or "cancelled"


class TokenUsage(Base):
    """Elements evaluated per lender and UTC day: each one is an online guess, so it is
    counted and capped."""

    __tablename__ = "token_usage"

    lender_id: Mapped[int] = mapped_column(ForeignKey("lenders.id"), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    elements: Mapped[int] = mapped_column(BigInteger)


class PepperCheck(Base):
    """A short fingerprint of a consortium pepper (HMAC of a fixed label, 16 hex), published
    so that a lender's SDK can tell it holds the pepper the consortium uses now. The
    registry never holds the pepper itself; the operator records the fingerprint."""

    __tablename__ = "pepper_checks"

    id: Mapped[int] = mapped_column(primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))  # current, next, retired (as KeyState)
    created_at: Mapped[Timestamp]
    retired_at: Mapped[Timestamp | None]
