"""Lenders and their API keys.

A key is `rk_<prefix>_<secret>`: the prefix (non-secret, unique) finds the row, the secret
(256 random bits) is kept only as its SHA-256 and compared in constant time. A slow password
hash is not needed: the secret is random, not chosen by a person.

Changes happen inside the caller's unit of work (`registry.db.transaction`): the service
flushes and records its audit event in the same transaction, never commits.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from registry.models import ApiKey, Lender, LenderStatus, Loan, LoanStatus
from registry.services import audit
from registry.services.errors import (
    AuthenticationFailed,
    Conflict,
    FieldError,
    InvalidInput,
    LenderSuspended,
    NotFound,
)

KEY_PATTERN = re.compile(r"rk_([a-z0-9]{12})_([A-Za-z0-9_-]{43})")
CODE_PATTERN = re.compile(r"[a-z][a-z0-9_-]{1,31}")
_PREFIX_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


@dataclass(frozen=True)
class IssuedKey:
    """A freshly issued key. `secret` is the only copy: show it once, never store it."""

    prefix: str
    secret: str


@dataclass(frozen=True)
class LenderOverview:
    id: int
    code: str
    name: str
    status: str
    active_keys: list[str]
    open_loans: int
    created_at: datetime
    exited_at: datetime | None = None


def hold_lender(session: Session, lender_id: int | None = None) -> None:
    """Share-lock a lender's row (any one lender's when `lender_id` is None) before writing a
    row keyed by a borrower token. A token rotation's retire locks every lender row while it
    moves each table to the next tokens: a write that holds this lock either finishes before
    the retire starts or reads the tokens after it ends, never lands under a retired token.
    (PostgreSQL; on SQLite the write lock already serialises them.)"""
    chosen = select(Lender.id).order_by(Lender.id).limit(1)
    if lender_id is not None:
        chosen = select(Lender.id).where(Lender.id == lender_id)
    session.execute(chosen.with_for_update(key_share=True))


def _hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def create_lender(
    session: Session, code: str, name: str, now: datetime, actor: audit.Actor | None = None
) -> tuple[Lender, IssuedKey]:
    code = code.strip().lower()
    if not CODE_PATTERN.fullmatch(code):
        raise InvalidInput(
            "lender code must be 2-32 characters",
            [FieldError("code", "2-32 characters: a lower-case letter, then a-z, 0-9, - or _")],
        )
    if not name.strip():
        raise InvalidInput("lender name must not be empty", [FieldError("name", "required")])
    if session.scalar(select(Lender.id).where(Lender.code == code)) is not None:
        raise Conflict(f"a lender with code {code!r} already exists")
    lender = Lender(
        code=code, name=name.strip(), status=LenderStatus.ACTIVE, created_at=now, updated_at=now
    )
    session.add(lender)
    session.flush()
    if actor is not None:
        audit.record(session, actor, "lender_created", now, lender.code, {"name": lender.name})
    return lender, issue_key(session, lender, now, label="initial", actor=actor)


def get_lender(session: Session, code: str) -> Lender:
    lender = session.scalar(select(Lender).where(Lender.code == code.strip().lower()))
    if lender is None:
        raise NotFound(f"no lender with code {code!r}")
    return lender


def issue_key(
    session: Session,
    lender: Lender,
    now: datetime,
    label: str = "",
    actor: audit.Actor | None = None,
) -> IssuedKey:
    prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(12))
    secret = secrets.token_urlsafe(32)
    session.add(
        ApiKey(
            lender_id=lender.id,
            prefix=prefix,
            secret_hash=_hash_secret(secret),
            label=label,
            created_at=now,
            revoked_at=None,
        )
    )
    session.flush()
    if actor is not None:
        audit.record(
            session, actor, "key_issued", now, lender.code, {"prefix": prefix, "label": label}
        )
    return IssuedKey(prefix=prefix, secret=f"rk_{prefix}_{secret}")


def revoke_key(
    session: Session,
    lender: Lender,
    prefix: str,
    now: datetime,
    actor: audit.Actor | None = None,
) -> bool:
    """Revoke the key; False if it was already revoked."""
    key = session.scalar(
        select(ApiKey).where(ApiKey.lender_id == lender.id, ApiKey.prefix == prefix)
    )
    if key is None:
        raise NotFound(f"lender {lender.code!r} has no key with prefix {prefix!r}")
    if key.revoked_at is not None:
        return False
    key.revoked_at = now
    if actor is not None:
        audit.record(session, actor, "key_revoked", now, lender.code, {"prefix": prefix})
    return True


def set_status(
    session: Session,
    lender: Lender,
    status: LenderStatus,
    now: datetime,
    actor: audit.Actor | None = None,
) -> None:
    old = lender.status
    lender.status = status
    lender.updated_at = now
    if actor is not None and old != status:
        action = "lender_suspended" if status == LenderStatus.SUSPENDED else "lender_reactivated"
        audit.record(session, actor, action, now, lender.code, {"old": old, "new": str(status)})


def exit_lender(
    session: Session,
    lender: Lender,
    now: datetime,
    actor: audit.Actor | None = None,
) -> bool:
    """Mark `lender` as having left the registry: its loans stay in every report as its last
    word, stale from `now` on (see `services/report/tradelines.py`). Its status and keys are
    left as they are. False if it had already exited (nothing changes then)."""
    if lender.exited_at is not None:
        return False
    lender.exited_at = now
    lender.updated_at = now
    session.flush()
    if actor is not None:
        audit.record(
            session, actor, "lender_exited", now, lender.code, {"exited_at": now.isoformat()}
        )
    return True


def exited_lenders(session: Session) -> dict[str, datetime]:
    """When each lender that has exited did so, by code."""
    rows = session.execute(
        select(Lender.code, Lender.exited_at).where(Lender.exited_at.is_not(None))
    ).tuples()
    return {code: exited_at for code, exited_at in rows if exited_at is not None}


def authenticate(session: Session, presented: str) -> Lender:
    """The lender behind an API key. Unknown, revoked or malformed: AuthenticationFailed;
    a suspended lender's valid key: LenderSuspended."""
    match = KEY_PATTERN.fullmatch(presented)
    if match is None:
        raise AuthenticationFailed("malformed API key")
    prefix, secret = match.groups()
    row = (
        session.execute(select(ApiKey, Lender).join(Lender).where(ApiKey.prefix == prefix))
        .tuples()
        .first()
    )
    # Compare against a dummy hash when the prefix is unknown, so timing says nothing.
    stored = row[0].secret_hash if row else b"\0" * 32
    if not hmac.compare_digest(stored, _hash_secret(secret)) or row is None:
        raise AuthenticationFailed("unknown API key")
    key, lender = row
    if key.revoked_at is not None:
        raise AuthenticationFailed("revoked API key")
    if not lender.is_active:
        raise LenderSuspended(f"lender {lender.code!r} is suspended")
    return lender


def open_loans_by_lender(session: Session) -> dict[int, int]:
    """Open loans per lender id: one grouped read."""
    return dict(
        session.execute(
            select(Loan.lender_id, func.count())
            .where(Loan.status == LoanStatus.OPEN)
            .group_by(Loan.lender_id)
        )
        .tuples()
        .all()
    )


def list_lenders(session: Session) -> list[LenderOverview]:
    open_loans = open_loans_by_lender(session)
    overviews = []
    for lender in session.scalars(
        select(Lender).options(selectinload(Lender.api_keys)).order_by(Lender.code)
    ):
        overviews.append(
            LenderOverview(
                id=lender.id,
                code=lender.code,
                name=lender.name,
                status=lender.status,
                active_keys=[k.prefix for k in lender.api_keys if k.revoked_at is None],
                open_loans=open_loans.get(lender.id, 0),
                created_at=lender.created_at,
                exited_at=lender.exited_at,
            )
        )
    return overviews
