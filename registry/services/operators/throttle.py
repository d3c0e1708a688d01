"""Failure counters that lock: rows of `login_throttles`, one per key (a username, a client
address `ip:<address>`, or an operator's `totp-off:<username>`), each counting failures in a
window and holding the lock they caused. A row is locked while a failure is counted, so that
parallel failures count one after another (SQLite: the write lock does it)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import NoReturn

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from registry.db import upsert
from registry.models import LoginThrottle
from registry.services.errors import ServiceError

FAILURE_WINDOW = timedelta(minutes=15)
LOCKOUT = timedelta(minutes=15)


def locked_row(session: Session, key: str) -> LoginThrottle:
    """The key's row, created if missing and locked until the unit of work ends."""
    table: Table = LoginThrottle.__table__  # type: ignore[assignment]
    session.execute(
        upsert(session, table)
        .values(username=key, failures=0, window_started_at=None, locked_until=None, seen=[])
        .on_conflict_do_nothing(index_elements=["username"])
    )
    return session.scalars(
        select(LoginThrottle)
        .where(LoginThrottle.username == key)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def is_locked(row: LoginThrottle, now: datetime) -> bool:
    return row.locked_until is not None and row.locked_until > now


def count_failure(row: LoginThrottle, now: datetime) -> None:
    """One more failure in the row's window (a new window when the last one has passed)."""
    if row.window_started_at is None or now - row.window_started_at > FAILURE_WINDOW:
        row.window_started_at, row.failures, row.seen = now, 0, []
    row.failures += 1


def lock(row: LoginThrottle, now: datetime) -> None:
    row.locked_until = now + LOCKOUT
    row.failures, row.window_started_at = 0, None


def refuse(session: Session, error: ServiceError) -> NoReturn:
    # Commits part way: the failure count, the lock and their audit must outlive the refused
    # attempt, whose unit of work the caller rolls back when this raises.
    session.commit()
    raise error
