"""Operators of the registry and the append-only audit log of what they (and the system) do."""

from __future__ import annotations

import enum
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from registry.models.base import Base, Timestamp


class OperatorRole(enum.StrEnum):
    ADMIN = "admin"  # everything, and alone manages lenders, keys, policy and operators
    ANALYST = "analyst"  # dashboards, lenders, look-ups
    AUDITOR = "auditor"  # the audit log and inquiries


class OperatorStatus(enum.StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


class Operator(Base):
    __tablename__ = "operators"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))  # argon2id, encoded with its parameters
    role: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=OperatorStatus.ACTIVE)
    # The TOTP secret must be readable to check a code, so it is encrypted, not hashed.
    totp_secret_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary(255))
    totp_enabled_at: Mapped[Timestamp | None]
    # The time step of the last TOTP code accepted: that code, or an older one, is refused.
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    recovery_code_hashes: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[Timestamp]
    updated_at: Mapped[Timestamp]
    last_login_at: Mapped[Timestamp | None]


class AuditEvent(Base):
    """One operator action or security event. Rows are only ever inserted: no service edits
    or deletes them, and triggers refuse UPDATE and DELETE (migrations 0002 and 0007)."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_occurred_at", "occurred_at"),
        Index("ix_audit_events_action_occurred_at", "action", "occurred_at"),
        Index("ix_audit_events_actor_occurred_at", "actor", "occurred_at"),
    )

    # BIGINT on PostgreSQL; SQLite only auto-increments an INTEGER primary key.
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True
    )
    occurred_at: Mapped[Timestamp]
    actor: Mapped[str] = mapped_column(String(80))  # "operator:alice", "cli", "system"
    action: Mapped[str] = mapped_column(String(48))  # "login_failed", "key_issued", ...
    target: Mapped[str | None] = mapped_column(String(160))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    ip: Mapped[str | None] = mapped_column(String(45))
    request_id: Mapped[str | None] = mapped_column(String(64))
