"""Signing in: the password check, the second factor, and the throttles that stop guessing.

Two throttles, each a row of `login_throttles` locked while a failure is counted (parallel
failures count one after another):

- by client address (`ip:<address>`): MAX_ADDRESS_FAILURES failures in the window, whatever
  the usernames, lock that address out;
- by username: MAX_FAILURES failures in the window lock the username, but only when they
  came from more than one address, so that one client cannot lock an operator out (it locks
  itself out first). Unknown usernames leave no row of their own, and their audit is capped
  at one event per address and window (and one when the address is locked).

A login is two units of work for its caller: `check_password` reads only (the slow argon2
check runs without any write lock, and not at all while a lock holds), then `login` decides
and writes.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import NoReturn

from sqlalchemy import select
from sqlalchemy.orm import Session

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
from registry.services.operators.throttle import (
    count_failure,
    is_locked,
    lock,
    locked_row,
    refuse,
)
from registry.services.operators.totp import check_second_factor

# Login throttling: this many failures for one username within the window, from at least
# two addresses, lock it; this many from one address, whatever the usernames, lock that.
MAX_FAILURES = 5
MAX_ADDRESS_FAILURES = 10
# Addresses remembered per username and window: enough to tell one client from several.
_ADDRESSES_KEPT = 8

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
        super().__init__("too many failed logins; try again later")
        self.until = until


@dataclass(frozen=True)
class PasswordCheck:
    """What `check_password` found, for `login`. Holds no password."""

    username: str
    operator_id: int | None  # None: no such operator
    password_ok: bool
    new_hash: str | None  # the password re-hashed with the current parameters, when due


def address_key(ip: str | None) -> str:
    """The throttle key of a client address."""
    return f"ip:{ip or 'unknown'}"[:64]


def locked_until(
    session: Session, username: str, now: datetime, ip: str | None = None
) -> datetime | None:
    """Until when a login of `username` from `ip` is refused, if it is."""
    locks = [
        row.locked_until
        for key in (normalise_username(username)[:64], address_key(ip))
        if (row := session.get(LoginThrottle, key)) is not None
        and row.locked_until is not None
        and row.locked_until > now
    ]
    return max(locks) if locks else None


def check_password(
    session: Session, username: str, password: str, now: datetime, ip: str | None = None
) -> PasswordCheck:
    """The slow half of a login, which only reads: the password is checked (against a dummy
    hash for an unknown username, in the same time; not at all while a lock holds, so that a
    locked-out client costs no argon2 hash)."""
    global _dummy_hash
    username = normalise_username(username)[:64]
    operator = session.scalar(select(Operator).where(Operator.username == username))
    new_hash = None
    if locked_until(session, username, now, ip) is not None:
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
    address = locked_row(session, address_key(ip))
    if is_locked(address, now):
        assert address.locked_until is not None
        if checked.operator_id is not None:  # an unknown username's refusal is not audited
            details = {"locked_until": address.locked_until.isoformat(), "by": "address"}
            audit.record(session, system, "login_refused", now, username, details)
        refuse(session, LoginThrottled(address.locked_until))
    if checked.operator_id is None:
        _record_unknown_username(session, address, now, system, username)
    throttle = locked_row(session, username)
    if is_locked(throttle, now):
        assert throttle.locked_until is not None
        details = {"locked_until": throttle.locked_until.isoformat(), "by": "username"}
        audit.record(session, system, "login_refused", now, username, details)
        refuse(session, LoginThrottled(throttle.locked_until))
    # Read again under the throttle lock: a parallel login may have used a TOTP step.
    operator = session.get(Operator, checked.operator_id, populate_existing=True)
    failure: str | None = None
    if operator is None or not checked.password_ok:
        failure = "unknown_username" if operator is None else "wrong_password"
    elif operator.status != OperatorStatus.ACTIVE:
        failure = "disabled"
    elif operator.totp_enabled_at is not None:
        failure = check_second_factor(operator, totp_code, secret_key, now)
    if failure is not None or operator is None:
        _record_failure(session, throttle, address, ip, now, system, failure or "unknown_username")
    if checked.new_hash is not None:
        operator.password_hash = checked.new_hash
    session.delete(throttle)
    session.delete(address)  # a right login clears its address's failures too
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


def _count_address(address: LoginThrottle, now: datetime) -> bool:
    """Count a failure against the client's address; True when it locks the address."""
    count_failure(address, now)
    if address.failures >= MAX_ADDRESS_FAILURES:
        lock(address, now)
        return True
    return False


def _record_unknown_username(
    session: Session, address: LoginThrottle, now: datetime, actor: audit.Actor, username: str
) -> NoReturn:
    """A guess at a username that does not exist: counted against the address only (no row
    of its own), audited once per address and window, and when it locks the address."""
    locked = _count_address(address, now)
    first = "unknown_username" not in (address.seen or [])
    if first:
        address.seen = [*(address.seen or []), "unknown_username"]
    if first or locked:
        details: dict[str, object] = {"reason": "unknown_username"}
        if locked:
            assert address.locked_until is not None
            details["address_locked_until"] = address.locked_until.isoformat()
        audit.record(session, actor, "login_failed", now, username[:160], details)
    refuse(session, LoginRefused(REFUSED))


def _record_failure(
    session: Session,
    row: LoginThrottle,
    address: LoginThrottle,
    ip: str | None,
    now: datetime,
    actor: audit.Actor,
    reason: str,
) -> NoReturn:
    count_failure(row, now)
    seen = list(row.seen or [])
    if (ip or "unknown") not in seen:
        seen = [*seen, ip or "unknown"][-_ADDRESSES_KEPT:]
    row.seen = seen
    details: dict[str, object] = {"reason": reason, "failures_in_window": row.failures}
    # One client cannot lock an operator out: the username locks only on failures from
    # more than one address (the client's own address locks first).
    if row.failures >= MAX_FAILURES and len(seen) > 1:
        lock(row, now)
        assert row.locked_until is not None
        details["locked_until"] = row.locked_until.isoformat()
    if _count_address(address, now):
        assert address.locked_until is not None
        details["address_locked_until"] = address.locked_until.isoformat()
    audit.record(session, actor, "login_failed", now, row.username[:160], details)
    refuse(session, LoginRefused(REFUSED))
