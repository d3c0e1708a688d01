"""The published token key: the current OPRF key (and, during a rotation window, the next
one) with the pepper fingerprints lenders check, and the first key's creation."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from registry.models import KeyState, PepperCheck, RotationKind, TokenKey, TokenRotation
from registry.services import audit
from registry.services.errors import Conflict, FieldError, InvalidInput, ServiceError
from registry.signer import Signer

MODE = "voprf"


class TokensUnavailable(ServiceError):
    """No OPRF key has been created yet (`registry keys init`)."""


@dataclass(frozen=True)
class PublishedKey:
    key_id: str
    public_key: bytes


@dataclass(frozen=True)
class RotationWindow:
    kind: str
    label: str
    opened_at: datetime
    next: PublishedKey
    next_pepper_fingerprint: str | None = None


@dataclass(frozen=True)
class KeyInfo:
    current: PublishedKey
    rotation: RotationWindow | None
    pepper_fingerprint: str | None = None

    @property
    def live_key_ids(self) -> set[str]:
        ids = {self.current.key_id}
        if self.rotation is not None:
            ids.add(self.rotation.next.key_id)
        return ids


def open_rotation(session: Session) -> TokenRotation | None:
    return session.scalar(select(TokenRotation).where(TokenRotation.closed_at.is_(None)))


def key_info(session: Session) -> KeyInfo:
    keys = {
        key.key_id: key
        for key in session.scalars(
            select(TokenKey).where(TokenKey.state.in_([KeyState.CURRENT, KeyState.NEXT]))
        )
    }
    current = next((k for k in keys.values() if k.state == KeyState.CURRENT), None)
    if current is None:
        raise TokensUnavailable(
            "no token key yet; the operator creates it with 'registry keys init'"
        )
    fingerprints = pepper_fingerprints(session)
    rotation = open_rotation(session)
    window = None
    if rotation is not None:
        upcoming = keys[rotation.next_key_id]
        # A key rotation keeps the pepper; a pepper rotation announces the next one's.
        pepper_state = KeyState.NEXT if rotation.kind == RotationKind.PEPPER else KeyState.CURRENT
        window = RotationWindow(
            rotation.kind,
            rotation.label,
            rotation.opened_at,
            PublishedKey(upcoming.key_id, upcoming.public_key),
            fingerprints.get(pepper_state),
        )
    return KeyInfo(
        PublishedKey(current.key_id, current.public_key), window, fingerprints.get(KeyState.CURRENT)
    )


def has_current_key(session: Session) -> bool:
    found = session.scalar(select(TokenKey.key_id).where(TokenKey.state == KeyState.CURRENT))
    return found is not None


def init_key(session: Session, signer: Signer, now: datetime, actor: audit.Actor) -> TokenKey:
    """The first key. The signer writes its secret file at once; the row is the caller's to
    commit (a file left by a failed commit is never used)."""
    if session.scalar(select(TokenKey).where(TokenKey.state == KeyState.CURRENT)) is not None:
        raise Conflict("a token key already exists; replace it with 'registry keys rotate'")
    key_id, public = signer.create_key(now.date())
    key = TokenKey(key_id=key_id, public_key=public, state=KeyState.CURRENT, created_at=now)
    session.add(key)
    audit.record(session, actor, "token_key_created", now, f"key:{key_id}")
    session.flush()
    return key


# -- pepper fingerprints ---------------------------------------------------------------------

FINGERPRINT = re.compile(r"[0-9a-f]{16}")


def pepper_fingerprints(session: Session) -> dict[str, str]:
    """The current and next pepper fingerprints, by state."""
    rows = session.execute(
        select(PepperCheck.state, PepperCheck.fingerprint).where(
            PepperCheck.state.in_([KeyState.CURRENT, KeyState.NEXT])
        )
    ).tuples()
    return dict(rows.all())


def check_fingerprint(fingerprint: str) -> str:
    value = fingerprint.strip().lower()
    if not FINGERPRINT.fullmatch(value):
        raise InvalidInput(
            "the pepper fingerprint is malformed",
            [FieldError("fingerprint", "16 hexadecimal characters (lender-client pepper-check)")],
        )
    return value


def set_pepper_fingerprint(
    session: Session, fingerprint: str, now: datetime, actor: audit.Actor
) -> None:
    """Record the current pepper's fingerprint (replacing any), outside a rotation."""
    value = check_fingerprint(fingerprint)
    if open_rotation(session) is not None:
        raise Conflict("a rotation window is open: the fingerprint changes when it is retired")
    retire_fingerprint(session, KeyState.CURRENT, now)
    session.add(PepperCheck(fingerprint=value, state=KeyState.CURRENT, created_at=now))
    audit.record(session, actor, "pepper_fingerprint_set", now, None, {"fingerprint": value})
    session.flush()


def retire_fingerprint(session: Session, state: str, now: datetime) -> None:
    session.execute(
        update(PepperCheck)
        .where(PepperCheck.state == state)
        .values(state=KeyState.RETIRED, retired_at=now)
    )
