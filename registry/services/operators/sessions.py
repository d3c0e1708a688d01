"""Console sessions: a random token held by the browser, of which the database keeps only
the SHA-256, so that logout, expiry and disabling an operator are enforced here, not by the
cookie. A session also holds a sealed new API key until the page that shows it once."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from registry.models import Operator, OperatorSession, OperatorStatus
from registry.services import audit

# Sessions: an absolute lifetime and an idle timeout.
SESSION_LIFETIME = timedelta(hours=8)
SESSION_IDLE_TIMEOUT = timedelta(minutes=30)
# last_seen_at is written at most this often (one write per minute, not per request).
SESSION_TOUCH_INTERVAL = timedelta(minutes=1)


@dataclass(frozen=True)
class ActiveSession:
    operator: Operator
    touch_due: bool  # last_seen_at is older than SESSION_TOUCH_INTERVAL: `touch_session`


def session_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(session: Session, operator: Operator, now: datetime, ip: str | None) -> str:
    """A new session for `operator`; returns its token (for the browser only)."""
    token = secrets.token_urlsafe(32)
    session.add(
        OperatorSession(
            id=session_id(token),
            operator_id=operator.id,
            created_at=now,
            last_seen_at=now,
            ended_at=None,
            ip=ip,
        )
    )
    return token


def resolve_session(session: Session, token: str, now: datetime) -> ActiveSession | None:
    """The operator behind a session token, or None when it is unknown, ended, expired or
    idle too long, or the operator is disabled. Reads only: when `touch_due`, the caller
    refreshes the idle timer with `touch_session` in a writing unit of work."""
    row = session.get(OperatorSession, session_id(token))
    if row is None or row.ended_at is not None:
        return None
    if now - row.created_at >= SESSION_LIFETIME or now - row.last_seen_at >= SESSION_IDLE_TIMEOUT:
        return None
    operator = session.get(Operator, row.operator_id)
    if operator is None or operator.status != OperatorStatus.ACTIVE:
        return None
    return ActiveSession(operator, now - row.last_seen_at >= SESSION_TOUCH_INTERVAL)


def touch_session(session: Session, token: str, now: datetime) -> None:
    """Refresh the session's idle timer."""
    row = session.get(OperatorSession, session_id(token), populate_existing=True)
    if row is not None:
        row.last_seen_at = now
        session.flush()


def hold_pending_key(session: Session, token: str, sealed: bytes) -> None:
    """Keep a sealed new API key with this browser session until it is shown."""
    row = session.get(OperatorSession, session_id(token))
    if row is not None:
        row.pending_key = sealed
        session.flush()


def take_pending_key(session: Session, token: str) -> bytes | None:
    """The sealed key held for this session, removed as it is read."""
    row = session.get(OperatorSession, session_id(token), populate_existing=True)
    sealed = row.pending_key if row is not None else None
    if row is not None and sealed is not None:
        row.pending_key = None
        session.flush()
    return sealed


def logout(session: Session, token: str, now: datetime, actor: audit.Actor | None = None) -> None:
    row = session.get(OperatorSession, session_id(token))
    if row is not None and row.ended_at is None:
        row.ended_at = now
        if actor is not None:
            audit.record(session, actor, "logout", now, actor.name.removeprefix("operator:"))
        session.flush()


def end_all_sessions(session: Session, operator: Operator, now: datetime) -> None:
    session.execute(
        update(OperatorSession)
        .where(OperatorSession.operator_id == operator.id, OperatorSession.ended_at.is_(None))
        .values(ended_at=now)
    )
