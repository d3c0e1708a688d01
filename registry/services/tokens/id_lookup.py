"""An operator's look-up of one borrower token from an ID (or from its peppered inner
hash), evaluated directly under the current key and audited with the ID's kind, never the
ID itself."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from registry.services import audit
from registry.services.errors import FieldError, InvalidInput
from registry.services.tokens.keys import key_info
from registry.signer import Signer
from registry_protocol.ids import InvalidIdError, normalize_id
from registry_protocol.pepper import PEPPER_SIZE, inner_token_input


def lookup_token(
    session: Session,
    signer: Signer,
    inner: bytes,
    kind: str,
    now: datetime,
    actor: audit.Actor,
    reason: str,
) -> str:
    """The token for an ID whose inner hash (HMAC with the consortium pepper) the operator
    computed: evaluated directly under the current key. Audited with the kind, never the ID."""
    info = key_info(session)
    output = signer.evaluate(info.current.key_id, inner)
    token = output[:32].hex()
    audit.record(
        session,
        actor,
        "token_lookup",
        now,
        f"borrower:{token}",
        {"id_kind": kind, "key_id": info.current.key_id, "reason": reason},
    )
    session.flush()
    return token


def parse_pepper(text: str) -> bytes:
    try:
        pepper = bytes.fromhex(text.strip())
    except ValueError:
        pepper = b""
    if len(pepper) != PEPPER_SIZE:
        raise InvalidInput(
            "the pepper is malformed",
            [FieldError("pepper", "must be 64 hexadecimal characters (32 bytes)")],
        )
    return pepper


def lookup_id(
    session: Session,
    signer: Signer,
    kind: str,
    value: str,
    pepper: bytes,
    now: datetime,
    actor: audit.Actor,
    reason: str,
) -> str:
    """An operator's look-up of one ID: normalised and peppered as lenders do, evaluated
    under the current key, audited with the kind and the token. The ID and the pepper are
    used here and forgotten; no message names the ID."""
    errors = []
    if not reason.strip():
        errors.append(FieldError("reason", "say why you look this person up"))
    try:
        canonical = normalize_id(kind, value)
    except InvalidIdError as exc:
        errors.append(FieldError("id_value", str(exc)))
    if errors:
        raise InvalidInput("the look-up is invalid", errors)
    inner = inner_token_input(pepper, kind, canonical)
    return lookup_token(session, signer, inner, kind, now, actor, reason.strip())
