"""Operator accounts: create, list, enable or disable, change a role, reset a password.

Passwords are hashed with argon2id (argon2-cffi's defaults, the RFC 9106 low-memory
profile) and re-hashed on the next successful login when the parameters change.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from registry.models import LoginThrottle, Operator, OperatorRole, OperatorStatus
from registry.services import audit
from registry.services.errors import Conflict, FieldError, InvalidInput, NotFound
from registry.services.operators.sessions import end_all_sessions

USERNAME_PATTERN = re.compile(r"[a-z][a-z0-9._-]{1,63}")
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024

ROLES = tuple(role.value for role in OperatorRole)

_hasher = PasswordHasher()  # argon2id, RFC 9106 low-memory profile


def use_password_hasher(hasher: PasswordHasher) -> PasswordHasher:
    """Replace the password hasher (tests use cheap parameters); returns the previous one."""
    global _hasher
    previous, _hasher = _hasher, hasher
    return previous


@dataclass(frozen=True)
class OperatorView:
    id: int
    username: str
    role: str
    status: str
    totp_enabled: bool
    created_at: datetime
    last_login_at: datetime | None


# --- passwords ---------------------------------------------------------------------------


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """True when `stored` was hashed with other parameters than the current hasher's."""
    return _hasher.check_needs_rehash(stored)


def _check_password_rules(password: str) -> None:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise InvalidInput(
            "the password is too short",
            [FieldError("password", f"at least {MIN_PASSWORD_LENGTH} characters")],
        )


def normalise_username(username: str) -> str:
    return username.strip().lower()


# --- operators ---------------------------------------------------------------------------


def create_operator(
    session: Session,
    username: str,
    password: str,
    role: str,
    now: datetime,
    actor: audit.Actor | None = None,
) -> Operator:
    username = normalise_username(username)
    errors = []
    if not USERNAME_PATTERN.fullmatch(username):
        errors.append(
            FieldError("username", "2-64 characters: a letter, then a-z, 0-9, '.', '_' or '-'")
        )
    if role not in ROLES:
        errors.append(FieldError("role", f"one of {', '.join(ROLES)}"))
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        errors.append(FieldError("password", f"at least {MIN_PASSWORD_LENGTH} characters"))
    if errors:
        raise InvalidInput(
            "the operator is invalid: " + "; ".join(f"{e.field}: {e.message}" for e in errors),
            errors,
        )
    if session.scalar(select(Operator.id).where(Operator.username == username)) is not None:
        raise Conflict(f"an operator named {username!r} already exists")
    operator = Operator(
        username=username,
        password_hash=hash_password(password),
        role=role,
        status=OperatorStatus.ACTIVE,
        recovery_code_hashes=[],
        created_at=now,
        updated_at=now,
    )
    session.add(operator)
    session.flush()
    if actor is not None:
        audit.record(session, actor, "operator_created", now, username, {"role": role})
    return operator


def get_operator(session: Session, username: str) -> Operator:
    operator = session.scalar(
        select(Operator).where(Operator.username == normalise_username(username))
    )
    if operator is None:
        raise NotFound(f"no operator named {username!r}")
    return operator


def list_operators(session: Session) -> list[OperatorView]:
    return [
        OperatorView(
            id=op.id,
            username=op.username,
            role=op.role,
            status=op.status,
            totp_enabled=op.totp_enabled_at is not None,
            created_at=op.created_at,
            last_login_at=op.last_login_at,
        )
        for op in session.scalars(select(Operator).order_by(Operator.username))
    ]


def set_operator_status(
    session: Session,
    operator: Operator,
    status: OperatorStatus,
    now: datetime,
    actor: audit.Actor | None = None,
) -> None:
    """Enable or disable an operator; disabling ends every session they have."""
    old = operator.status
    operator.status = status
    operator.updated_at = now
    if status == OperatorStatus.DISABLED:
        end_all_sessions(session, operator, now)
    if actor is not None and old != status:
        action = "operator_disabled" if status == OperatorStatus.DISABLED else "operator_enabled"
        audit.record(session, actor, action, now, operator.username)
    session.flush()


def set_role(
    session: Session,
    operator: Operator,
    role: str,
    now: datetime,
    actor: audit.Actor | None = None,
) -> None:
    if role not in ROLES:
        raise InvalidInput("unknown role", [FieldError("role", f"one of {', '.join(ROLES)}")])
    old = operator.role
    operator.role = role
    operator.updated_at = now
    if actor is not None and old != role:
        audit.record(
            session,
            actor,
            "operator_role_changed",
            now,
            operator.username,
            {"old": old, "new": role},
        )
    session.flush()


def reset_password(
    session: Session,
    operator: Operator,
    password: str,
    now: datetime,
    actor: audit.Actor | None = None,
) -> None:
    """A new password; every session of the operator ends and a login lock is lifted."""
    _check_password_rules(password)
    operator.password_hash = hash_password(password)
    operator.updated_at = now
    end_all_sessions(session, operator, now)
    session.execute(
        update(LoginThrottle)
        .where(LoginThrottle.username == operator.username)
        .values(failures=0, window_started_at=None, locked_until=None)
    )
    if actor is not None:
        audit.record(session, actor, "password_reset", now, operator.username)
    session.flush()


def ensure_demo_operator(session: Session, now: datetime) -> tuple[str, str]:
    """The demo's admin, "demo-admin", with a fresh random password on every call (like the
    demo API keys). Returns (username, password)."""
    username = "demo-admin"
    password = secrets.token_urlsafe(12)
    operator = session.scalar(select(Operator).where(Operator.username == username))
    if operator is None:
        create_operator(session, username, password, OperatorRole.ADMIN, now, actor=audit.CLI)
    else:
        operator.status = OperatorStatus.ACTIVE
        operator.role = OperatorRole.ADMIN
        reset_password(session, operator, password, now, actor=audit.CLI)
    return username, password
