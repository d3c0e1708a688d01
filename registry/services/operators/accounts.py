"""Operators of the registry: accounts, passwords, login throttling, sessions and TOTP.

Passwords are hashed with argon2id (argon2-cffi's defaults, the RFC 9106 low-memory
profile) and re-hashed on the next successful login when the parameters change. A login
session is a random token held by the browser; the database keeps only its SHA-256, so
logout, expiry and disabling an operator are enforced here, not by the cookie.

The optional second factor is TOTP (RFC 6238, 30 s, 6 digits): the secret is encrypted with
AES-GCM under a key derived (HKDF-SHA256) from the registry's secret key; recovery codes
are random and kept as HMAC-SHA256 digests under another derived key, each usable once.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Table, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from registry.db import begin_write
from registry.models import (
    LoginThrottle,
    Operator,
    OperatorRole,
    OperatorSession,
    OperatorStatus,
)
from registry.services import audit
from registry.services.errors import Conflict, FieldError, InvalidInput, NotFound, ServiceError

USERNAME_PATTERN = re.compile(r"[a-z][a-z0-9._-]{1,63}")
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024

# Login throttling: this many failures for one username within the window lock it.
MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)
LOCKOUT = timedelta(minutes=15)

# Sessions: an absolute lifetime and an idle timeout.
SESSION_LIFETIME = timedelta(hours=8)
SESSION_IDLE_TIMEOUT = timedelta(minutes=30)
# last_seen_at is written at most this often (one write per minute, not per request).
SESSION_TOUCH_INTERVAL = timedelta(minutes=1)

TOTP_ISSUER = "Debt registry"
RECOVERY_CODES = 10

ROLES = tuple(role.value for role in OperatorRole)

_hasher = PasswordHasher()  # argon2id, RFC 9106 low-memory profile


def use_password_hasher(hasher: PasswordHasher) -> PasswordHasher:
    """Replace the password hasher (tests use cheap parameters); returns the previous one."""
    global _hasher
    previous, _hasher = _hasher, hasher
    return previous


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


def _verify(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def _check_password_rules(password: str) -> None:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise InvalidInput(
            "the password is too short",
            [FieldError("password", f"at least {MIN_PASSWORD_LENGTH} characters")],
        )


def _normalise_username(username: str) -> str:
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
    begin_write(session)
    username = _normalise_username(username)
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
        select(Operator).where(Operator.username == _normalise_username(username))
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
    begin_write(session)
    old = operator.status
    operator.status = status
    operator.updated_at = now
    if status == OperatorStatus.DISABLED:
        _end_all_sessions(session, operator, now)
    if actor is not None and old != status:
        action = "operator_disabled" if status == OperatorStatus.DISABLED else "operator_enabled"
        audit.record(session, actor, action, now, operator.username)


def set_role(
    session: Session,
    operator: Operator,
    role: str,
    now: datetime,
    actor: audit.Actor | None = None,
) -> None:
    begin_write(session)
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


def reset_password(
    session: Session,
    operator: Operator,
    password: str,
    now: datetime,
    actor: audit.Actor | None = None,
) -> None:
    """A new password; every session of the operator ends."""
    begin_write(session)
    _check_password_rules(password)
    operator.password_hash = hash_password(password)
    operator.updated_at = now
    _end_all_sessions(session, operator, now)
    session.execute(
        update(LoginThrottle)
        .where(LoginThrottle.username == operator.username)
        .values(failures=0, window_started_at=None, locked_until=None)
    )
    if actor is not None:
        audit.record(session, actor, "password_reset", now, operator.username)


def ensure_demo_operator(session: Session, now: datetime) -> tuple[str, str]:
    """The demo's admin, "demo-admin", with a fresh random password on every call (like the
    demo API keys). Returns (username, password). Does not commit."""
    username = "demo-admin"
    password = secrets.token_urlsafe(12)
    begin_write(session)
    operator = session.scalar(select(Operator).where(Operator.username == username))
    if operator is None:
        create_operator(session, username, password, OperatorRole.ADMIN, now, actor=audit.CLI)
    else:
        operator.status = OperatorStatus.ACTIVE
        operator.role = OperatorRole.ADMIN
        reset_password(session, operator, password, now, actor=audit.CLI)
    return username, password


# --- login and throttling ----------------------------------------------------------------


def _throttle(session: Session, username: str) -> LoginThrottle | None:
    return session.get(LoginThrottle, username[:64])


def locked_until(session: Session, username: str, now: datetime) -> datetime | None:
    row = _throttle(session, _normalise_username(username))
    if row is not None and row.locked_until is not None and row.locked_until > now:
        return row.locked_until
    return None


def _locked_throttle(session: Session, username: str) -> LoginThrottle:
    """The username's throttle row, created if missing and locked until commit, so that
    parallel failed logins count one after the other (SQLite: the write lock does it)."""
    table: Table = LoginThrottle.__table__  # type: ignore[assignment]
    dialect = session.get_bind().dialect.name
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    session.execute(
        insert.values(
            username=username, failures=0, window_started_at=None, locked_until=None
        ).on_conflict_do_nothing(index_elements=["username"])
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
) -> None:
    if row.window_started_at is None or now - row.window_started_at > FAILURE_WINDOW:
        row.window_started_at, row.failures = now, 0
    row.failures += 1
    details: dict[str, object] = {"reason": reason, "failures_in_window": row.failures}
    if row.failures >= MAX_FAILURES:
        row.locked_until = now + LOCKOUT
        row.failures, row.window_started_at = 0, None
        details["locked_until"] = row.locked_until.isoformat()
    audit.record(session, actor, "login_failed", now, row.username[:160], details)
    session.commit()


# One answer for every refusal: the page never tells which check failed (so a right
# password is not confirmed by a request for the second factor).
REFUSED = "sign-in failed: check the username, the password and, if you use one, the code"


def login(
    session: Session,
    username: str,
    password: str,
    totp_code: str,
    now: datetime,
    secret_key: str,
    ip: str | None = None,
    request_id: str | None = None,
) -> tuple[Operator, str]:
    """Check the credentials and start a session: (operator, session token). Commits.

    Raises LoginThrottled while the username is locked and LoginRefused otherwise; every
    failure is audited and counted towards the lock. The slow password check runs before
    any write lock is taken."""
    global _dummy_hash
    username = _normalise_username(username)[:64]
    system = audit.Actor("system", ip, request_id)
    operator = session.scalar(select(Operator).where(Operator.username == username))
    if locked_until(session, username, now) is not None:
        password_ok = False  # not even checked while locked
    elif operator is None:
        if _dummy_hash is None:
            _dummy_hash = hash_password(secrets.token_urlsafe(16))
        _verify(_dummy_hash, password)  # the same time as a real check
        password_ok = False
    else:
        password_ok = _verify(operator.password_hash, password)
    session.rollback()

    begin_write(session)
    throttle = _locked_throttle(session, username)
    if throttle.locked_until is not None and throttle.locked_until > now:
        until = throttle.locked_until
        audit.record(
            session, system, "login_refused", now, username, {"locked_until": until.isoformat()}
        )
        session.commit()
        raise LoginThrottled(until)
    if operator is None or not password_ok:
        failure = "unknown_username" if operator is None else "wrong_password"
        _record_failure(session, throttle, now, system, failure)
        raise LoginRefused(REFUSED)
    if operator.status != OperatorStatus.ACTIVE:
        _record_failure(session, throttle, now, system, "disabled")
        raise LoginRefused(REFUSED)
    if operator.totp_enabled_at is not None:
        reason = _check_second_factor(operator, totp_code, secret_key, now)
        if reason is not None:
            _record_failure(session, throttle, now, system, reason)
            raise LoginRefused(REFUSED)
    if _hasher.check_needs_rehash(operator.password_hash):
        operator.password_hash = hash_password(password)
    session.delete(throttle)
    token = secrets.token_urlsafe(32)
    session.add(
        OperatorSession(
            id=_session_id(token),
            operator_id=operator.id,
            created_at=now,
            last_seen_at=now,
            ended_at=None,
            ip=ip,
        )
    )
    operator.last_login_at = now
    audit.record(
        session,
        audit.Actor.operator(username, ip, request_id),
        "login",
        now,
        username,
        {"second_factor": operator.totp_enabled_at is not None},
    )
    session.commit()
    return operator, token


# --- sessions ----------------------------------------------------------------------------


def _session_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def resolve_session(session: Session, token: str, now: datetime) -> Operator | None:
    """The operator behind a session token, or None when it is unknown, ended, expired or
    idle too long, or the operator is disabled. Refreshes the idle timer (commits then)."""
    row = session.get(OperatorSession, _session_id(token))
    if row is None or row.ended_at is not None:
        return None
    if now - row.created_at >= SESSION_LIFETIME or now - row.last_seen_at >= SESSION_IDLE_TIMEOUT:
        return None
    operator = session.get(Operator, row.operator_id)
    if operator is None or operator.status != OperatorStatus.ACTIVE:
        return None
    if now - row.last_seen_at >= SESSION_TOUCH_INTERVAL:
        begin_write(session)
        row = session.get(OperatorSession, _session_id(token))
        assert row is not None
        row.last_seen_at = now
        session.commit()
    return operator


def hold_pending_key(session: Session, token: str, sealed: bytes) -> None:
    """Keep a sealed new API key with this browser session until it is shown. Commits."""
    begin_write(session)
    row = session.get(OperatorSession, _session_id(token))
    if row is not None:
        row.pending_key = sealed
    session.commit()


def take_pending_key(session: Session, token: str) -> bytes | None:
    """The sealed key held for this session, removed as it is read. Commits."""
    begin_write(session)
    row = session.get(OperatorSession, _session_id(token))
    sealed = row.pending_key if row is not None else None
    if row is not None and sealed is not None:
        row.pending_key = None
    session.commit()
    return sealed


def logout(session: Session, token: str, now: datetime, actor: audit.Actor | None = None) -> None:
    begin_write(session)
    row = session.get(OperatorSession, _session_id(token))
    if row is not None and row.ended_at is None:
        row.ended_at = now
        if actor is not None:
            audit.record(session, actor, "logout", now, actor.name.removeprefix("operator:"))
    session.commit()


def _end_all_sessions(session: Session, operator: Operator, now: datetime) -> None:
    session.execute(
        update(OperatorSession)
        .where(OperatorSession.operator_id == operator.id, OperatorSession.ended_at.is_(None))
        .values(ended_at=now)
    )


# --- TOTP second factor ------------------------------------------------------------------


def _derive(secret_key: str, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(
        secret_key.encode()
    )


def _seal(secret_key: str, plain: bytes) -> bytes:
    nonce = secrets.token_bytes(12)
    return nonce + AESGCM(_derive(secret_key, b"registry operator totp v1")).encrypt(
        nonce, plain, b"totp"
    )


def _unseal(secret_key: str, sealed: bytes) -> bytes | None:
    try:
        return AESGCM(_derive(secret_key, b"registry operator totp v1")).decrypt(
            sealed[:12], sealed[12:], b"totp"
        )
    except InvalidTag:
        return None


def _recovery_digest(secret_key: str, code: str) -> str:
    key = _derive(secret_key, b"registry operator recovery codes v1")
    normalised = code.strip().lower().replace("-", "").replace(" ", "")
    return hmac.new(key, normalised.encode(), hashlib.sha256).hexdigest()


def _check_second_factor(
    operator: Operator, code: str, secret_key: str, now: datetime
) -> str | None:
    """None when `code` is a valid TOTP code or an unused recovery code (which is then
    consumed); otherwise the reason for the audit log."""
    code = code.strip().replace(" ", "")
    if not code:
        return "totp_missing"
    if code.isdigit() and len(code) == 6:
        secret = _unseal(secret_key, operator.totp_secret_encrypted or b"")
        step = _matching_step(secret.decode(), code, now) if secret is not None else None
        if step is None:
            return "wrong_totp"
        # A code opens one login: one seen (or an earlier one) is refused (RFC 6238, 5.2).
        if operator.totp_last_step is not None and step <= operator.totp_last_step:
            return "replayed_totp"
        operator.totp_last_step = step
        return None
    digest = _recovery_digest(secret_key, code)
    remaining = [h for h in operator.recovery_code_hashes if not hmac.compare_digest(h, digest)]
    if len(remaining) == len(operator.recovery_code_hashes):
        return "wrong_totp"
    operator.recovery_code_hashes = remaining
    return None


def _matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The 30-second time step whose code `code` is, among the current one and its two
    neighbours (clock drift), or None."""
    totp = pyotp.TOTP(secret)
    current = int(now.timestamp()) // totp.interval
    for step in (current - 1, current, current + 1):
        if hmac.compare_digest(totp.at(step * totp.interval), code):
            return step
    return None


def begin_totp_enrolment(
    session: Session, operator: Operator, secret_key: str, now: datetime
) -> str:
    """A new, not yet active TOTP secret for `operator`; returns its otpauth:// URI (for the
    QR code). Commits. The factor is enforced only once `confirm_totp` succeeds."""
    if operator.totp_enabled_at is not None:
        raise Conflict("the second factor is already enabled")
    begin_write(session)
    secret = pyotp.random_base32()
    operator.totp_secret_encrypted = _seal(secret_key, secret.encode())
    operator.updated_at = now
    session.commit()
    return pyotp.TOTP(secret).provisioning_uri(name=operator.username, issuer_name=TOTP_ISSUER)


def pending_totp_uri(operator: Operator, secret_key: str) -> str | None:
    """The otpauth:// URI of an enrolment started but not yet confirmed."""
    if operator.totp_enabled_at is not None or operator.totp_secret_encrypted is None:
        return None
    secret = _unseal(secret_key, operator.totp_secret_encrypted)
    if secret is None:
        return None
    return pyotp.TOTP(secret.decode()).provisioning_uri(
        name=operator.username, issuer_name=TOTP_ISSUER
    )


def confirm_totp(
    session: Session,
    operator: Operator,
    code: str,
    secret_key: str,
    now: datetime,
    actor: audit.Actor | None = None,
) -> list[str]:
    """Activate the pending secret if `code` is valid; returns the recovery codes (shown
    once). Commits."""
    secret = _unseal(secret_key, operator.totp_secret_encrypted or b"")
    if operator.totp_enabled_at is not None or secret is None:
        raise Conflict("start the enrolment first")
    code = code.strip().replace(" ", "")
    step = _matching_step(secret.decode(), code, now)
    if step is None:
        raise InvalidInput("wrong code", [FieldError("code", "that code is not valid now")])
    begin_write(session)
    operator.totp_last_step = step
    codes = ["-".join(secrets.token_hex(3) for _ in range(2)) for _ in range(RECOVERY_CODES)]
    operator.totp_enabled_at = now
    operator.recovery_code_hashes = [_recovery_digest(secret_key, c) for c in codes]
    operator.updated_at = now
    if actor is not None:
        audit.record(session, actor, "totp_enabled", now, operator.username)
    session.commit()
    return codes


def disable_totp(
    session: Session,
    operator: Operator,
    password: str,
    now: datetime,
    actor: audit.Actor | None = None,
) -> None:
    """Turn the second factor off; needs the operator's password. Commits."""
    if not _verify(operator.password_hash, password):
        raise InvalidInput("wrong password", [FieldError("password", "wrong password")])
    begin_write(session)
    operator.totp_secret_encrypted = None
    operator.totp_enabled_at = None
    operator.recovery_code_hashes = []
    operator.updated_at = now
    if actor is not None:
        audit.record(session, actor, "totp_disabled", now, operator.username)
    session.commit()
