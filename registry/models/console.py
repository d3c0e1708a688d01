"""Operator console state: server-side login sessions and per-username login throttles.

A browser holds only a random session token in its (signed, HttpOnly) cookie; the row here is
keyed by the token's SHA-256, so that logout, expiry and disabling an operator take effect on
the server whatever the browser keeps.
"""

from __future__ import annotations

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from registry.models.base import Base, Timestamp


class OperatorSession(Base):
    __tablename__ = "operator_sessions"
    __table_args__ = (Index("ix_operator_sessions_operator_id", "operator_id"),)

    # SHA-256 (hex) of the token in the cookie: a database dump gives no usable session.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    operator_id: Mapped[int] = mapped_column(ForeignKey("operators.id"))
    created_at: Mapped[Timestamp]
    last_seen_at: Mapped[Timestamp]
    ended_at: Mapped[Timestamp | None]
    ip: Mapped[str | None] = mapped_column(String(45))
    # A new API key waiting to be shown once, sealed (AES-GCM under a key derived from the
    # app's secret); cleared when shown, so no copy of a cookie can show it again.
    pending_key: Mapped[bytes | None] = mapped_column(LargeBinary(512))


class LoginThrottle(Base):
    """Failed logins in the current window, and the lock they caused, of one username or of
    one client address (key `ip:<address>`)."""

    __tablename__ = "login_throttles"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int]
    window_started_at: Mapped[Timestamp | None]
    locked_until: Mapped[Timestamp | None]
    # In the window: for a username's row, the client addresses its failures came from; for
    # an address's row, the kinds of failure already audited (so that guesses at unknown
    # usernames leave one audit event, not one each).
    seen: Mapped[list[str] | None] = mapped_column(JSON)
