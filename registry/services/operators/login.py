"""Signing in: the password check, the second factor, and the throttle that locks a
username after repeated failures.

A login is two units of work for its caller: `check_password` reads only (the slow argon2
check runs without any write lock), then `login` decides and writes, with the username's
throttle row locked so that parallel failures count one after another.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NoReturn

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from registry.db import upsert
from registry.models import LoginThrottle, Operator, OperatorStatus
from registry.services import audit
from registry.services.errors import ServiceError
from registry.services.operators.accounts import (
    hash_password,
    needs_rehash,
    normalise_username,
    verify_password,
)
from registry.services.operators.sessions import start_session
from registry.services.operators.totp import check_second_factor

# Login throttling: this many failures for one username within the window lock it.
MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)
LOCKOUT = timedelta(minutes=15)

# One answer for every refusal: the page never tells which check failed (so a right
# password is not confirmed by a request for the second factor).
REFUSED = "sign-in failed: check the username, the password and, if you use one, the code"

# A hash of a random password, verified against when the username is unknown, so that the
# answer takes as long as for a known one.
_dummy_hash: str | None = None


class LoginRefused(ServiceError):
    """The credentials are wrong, the account is disabled, or the second factor is missing.
    The message is the same in every case (do not reveal which)."""


class LoginThrottled(ServiceError):
    def __init__(self, until: datetime) -> None:
        super().__init__("too many failed logins for this username; try again later")
        self.until = until


@dataclass(frozen=True)
class PasswordCheck:
    """What `check_password` found, for `login`. Holds no password."""

    username: str
    operator_id: int | None  # None: no such operator
    password_ok: bool
    new_hash: str | None  # the password re-hashed with the current parameters, when due


def locked_until(session: Session, username: str, now: datetime) -> datetime | None:
    row = session.get(LoginThrottle, normalise_username(username)[:64])
    if row is not None and row.locked_until is not None and row.locked_until > now:
        return row.locked_until
    return None


def check_password(session: Session, username: str, password: str, now: datetime) -> PasswordCheck:
    """The slow half of a login, which only reads: the password is checked (against a dummy
    hash for an unknown username, in the same time; not at all while the username is locked)."""
    global _dummy_hash
    username = normalise_username(username)[:64]
    operator = session.scalar(select(Operator).where(Operator.username == username))
    new_hash = None
    if locked_until(session, username, now) is not None:
        password_ok = False  # not even checked while locked
    elif operator is None:
        if _dummy_hash is None:
            _dummy_hash = hash_password(secrets.token_urlsafe(16))
        verify_password(_dummy_hash, password)  # the same time as a real check
        password_ok = False
    else:
        password_ok = verify_password(operator.password_hash, password)
        if password_ok and needs_rehash(operator.password_hash):
            new_hash = hash_password(password)
    return PasswordCheck(username, operator.id if operator else None, password_ok, new_hash)


def login(
    session: Session,
    checked: PasswordCheck,
    totp_code: str,
    now: datetime,
    secret_key: str,
    ip: str | None = None,
    request_id: str | None = None,
) -> tuple[Operator, str]:
    """Decide the login `check_password` began and start a session: (operator, session
    token). Needs a writing unit of work.

    Raises LoginThrottled while the username is locked and LoginRefused otherwise; every
    refusal is audited and counted towards the lock, and committed before it is raised."""
    username = checked.username
    system = audit.Actor("system", ip, request_id)
    throttle = _locked_throttle(session, username)
    if throttle.locked_until is not None and throttle.locked_until > now:
        until = throttle.locked_until
        audit.record(
            session, system, "login_refused", now, username, {"locked_until": until.isoformat()}
        )
        _refuse(session, LoginThrottled(until))
    # Read again under the throttle lock: a parallel login may have used a TOTP step.
    operator = (
        session.get(Operator, checked.operator_id, populate_existing=True)
        if checked.operator_id is not None
        else None
    )
    if operator is None or not checked.password_ok:
        failure = "unknown_username" if operator is None else "wrong_password"
        _record_failure(session, throttle, now, system, failure)
    elif operator.status != OperatorStatus.ACTIVE:
        _record_failure(session, throttle, now, system, "disabled")
    elif operator.totp_enabled_at is not None:
        reason = check_second_factor(operator, totp_code, secret_key, now)
        if reason is not None:
            _record_failure(session, throttle, now, system, reason)
    if checked.new_hash is not None:
        operator.password_hash = checked.new_hash
    session.delete(throttle)
    token = start_session(session, operator, now, ip)
    operator.last_login_at = now
    audit.record(
        session,
        audit.Actor.operator(username, ip, request_id),
        "login",
        now,
        username,
        {"second_factor": operator.totp_enabled_at is not None},
    )
    session.flush()
    return operator, token


def _locked_throttle(session: Session, username: str) -> LoginThrottle:
    """The username's throttle row, created if missing and locked until commit, so that
    parallel failed logins count one after the other (SQLite: the write lock does it)."""
    table: Table = LoginThrottle.__table__  # type: ignore[assignment]
    session.execute(
        upsert(session, table)
        .values(username=username, failures=0, window_started_at=None, locked_until=None)
        .on_conflict_do_nothing(index_elements=["username"])
    )
    row = session.scalars(
        select(LoginThrottle)
        .where(LoginThrottle.username == username)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    return row


def _record_failure(
    session: Session, row: LoginThrottle, now: datetime, actor: audit.Actor, reason: str
) -> NoReturn:
    if row.window_started_at is None or now - row.window_started_at > FAILURE_WINDOW:
        row.window_started_at, row.failures = now, 0
    row.failures += 1
    details: dict[str, object] = {"reason": reason, "failures_in_window": row.failures}
    if row.failures >= MAX_FAILURES:
        row.locked_until = now + LOCKOUT
        row.failures, row.window_started_at = 0, None
        details["locked_until"] = row.locked_until.isoformat()
    audit.record(session, actor, "login_failed", now, row.username[:160], details)
    _refuse(session, LoginRefused(REFUSED))


def _refuse(session: Session, error: ServiceError) -> NoReturn:
    # Commits part way: the failure count, the lock and their audit must outlive the
    # refused login, whose unit of work the caller rolls back when this raises.
    session.commit()
    raise error
