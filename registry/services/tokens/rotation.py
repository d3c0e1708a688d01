"""Borrower tokens, registry side: the published key, batched evaluation under a daily quota,
and key or pepper rotation windows.

The registry never sees an ID or the lenders' inner hash: it evaluates blinded group
elements (RFC 9497 VOPRF) with a key held by `registry.signer`. Every evaluated element is
an online guess at an ID, so each one is counted per lender and UTC day and capped.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    Column,
    LargeBinary,
    MetaData,
    Table,
    and_,
    case,
    delete,
    exists,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

import rfc9497
from registry.clock import iso
from registry.db import begin_write
from registry.models import (
    Inquiry,
    InquiryKey,
    KeyState,
    Lender,
    Loan,
    LoanHistory,
    LoanRef,
    LoanStatus,
    PepperCheck,
    RotationKind,
    TokenKey,
    TokenRotation,
    TokenUsage,
)
from registry.services import audit
from registry.services.errors import Conflict, FieldError, InvalidInput, NotFound, ServiceError
from registry.signer import Signer
from registry_protocol.ids import InvalidIdError, normalize_id
from registry_protocol.pepper import PEPPER_SIZE, inner_token_input

MAX_ELEMENTS = 1000
MODE = "voprf"
WRONG_SECRET = (
    "lenders reported different next tokens for one borrower (or one next token for two "
    "borrowers): a lender is tokenising with the wrong pepper or key. Nothing was changed; "
    "find it with 'registry keys status', then fix that lender or cancel the window."
)


class TokensUnavailable(ServiceError):
    """No OPRF key has been created yet (`registry keys init`)."""


class QuotaExceeded(ServiceError):
    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class PublishedKey:
    key_id: str
    public_key: bytes

    def to_json(self) -> dict[str, str]:
        return {"key_id": self.key_id, "public_key": self.public_key.hex()}


@dataclass(frozen=True)
class RotationWindow:
    kind: str
    label: str
    opened_at: datetime
    next: PublishedKey
    next_pepper_fingerprint: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "label": self.label,
            "opened_at": iso(self.opened_at),
            "next": {**self.next.to_json(), "pepper_fingerprint": self.next_pepper_fingerprint},
        }


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

    def to_json(self) -> dict[str, Any]:
        return {
            "suite": rfc9497.SUITE_ID,
            "mode": MODE,
            **self.current.to_json(),
            "pepper_fingerprint": self.pepper_fingerprint,
            "rotation": self.rotation.to_json() if self.rotation else None,
        }


@dataclass(frozen=True)
class Evaluation:
    key_id: str
    evaluated_elements: list[bytes]
    proof: bytes

    def to_json(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "evaluated_elements": [e.hex() for e in self.evaluated_elements],
            "proof": self.proof.hex(),
        }


# -- the published key ---------------------------------------------------------------------


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


def _check_fingerprint(fingerprint: str) -> str:
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
    value = _check_fingerprint(fingerprint)
    begin_write(session)
    if open_rotation(session) is not None:
        session.rollback()
        raise Conflict("a rotation window is open: the fingerprint changes when it is retired")
    _retire_fingerprint(session, KeyState.CURRENT, now)
    session.add(PepperCheck(fingerprint=value, state=KeyState.CURRENT, created_at=now))
    audit.record(session, actor, "pepper_fingerprint_set", now, None, {"fingerprint": value})
    session.commit()


def _retire_fingerprint(session: Session, state: str, now: datetime) -> None:
    session.execute(
        update(PepperCheck)
        .where(PepperCheck.state == state)
        .values(state=KeyState.RETIRED, retired_at=now)
    )


# -- evaluation ------------------------------------------------------------------------------


def decode_elements(elements: Sequence[Any]) -> list[bytes]:
    """Hex strings to validated group elements; every bad one is named by its index."""
    decoded: list[bytes] = []
    errors: list[FieldError] = []
    for index, value in enumerate(elements):
        where = f"blinded_elements[{index}]"
        if not isinstance(value, str) or len(value) != 2 * rfc9497.ELEMENT_SIZE:
            errors.append(FieldError(where, "must be 64 hexadecimal characters"))
            continue
        try:
            raw = bytes.fromhex(value)
        except ValueError:
            errors.append(FieldError(where, "must be 64 hexadecimal characters"))
            continue
        try:
            decoded.append(rfc9497.decode_element(raw, index))
        except rfc9497.InvalidElementError:
            errors.append(
                FieldError(where, "is not a valid ristretto255 element (or is the identity)")
            )
    if errors:
        raise InvalidInput(f"{len(errors)} of {len(elements)} blinded elements are invalid", errors)
    return decoded


def evaluate(
    session: Session,
    signer: Signer,
    lender: Lender,
    elements: Sequence[Any],
    key_id: str | None,
    now: datetime,
    default_quota: int,
) -> Evaluation:
    """Evaluate one batch under the current key (or the next one during a key rotation),
    after charging it to the lender's daily quota."""
    if not 1 <= len(elements) <= MAX_ELEMENTS:
        raise InvalidInput(
            "the batch size is out of range",
            [FieldError("blinded_elements", f"must hold 1 to {MAX_ELEMENTS} elements")],
        )
    blinded = decode_elements(elements)
    info = key_info(session)
    chosen = key_id or info.current.key_id
    if chosen not in info.live_key_ids:
        raise InvalidInput(
            "unknown key_id",
            [FieldError("key_id", f"must be one of {sorted(info.live_key_ids)}")],
        )
    session.rollback()  # end the read before the write below takes its lock
    _charge(session, lender, len(blinded), now, default_quota)
    signer.forget_all_but(info.live_key_ids)
    evaluated, proof = signer.evaluate_batch(chosen, blinded)
    return Evaluation(chosen, evaluated, proof)


def _charge(session: Session, lender: Lender, count: int, now: datetime, default: int) -> None:
    quota = lender.token_quota_per_day or default
    day = now.date()
    table: Table = TokenUsage.__table__  # type: ignore[assignment]
    dialect = session.get_bind().dialect.name
    upsert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    upsert = upsert.values(lender_id=lender.id, day=day, elements=count)
    statement = upsert.on_conflict_do_update(
        index_elements=["lender_id", "day"],
        set_={"elements": table.c.elements + upsert.excluded.elements},
    ).returning(table.c.elements)
    begin_write(session)
    used = session.execute(statement).scalar_one()
    if used > quota:
        session.rollback()
        tomorrow = datetime.combine(day + timedelta(days=1), time(), tzinfo=now.tzinfo)
        left = max(0, quota - (used - count))
        raise QuotaExceeded(
            f"daily token quota of {quota} elements reached ({left} left today); "
            "it resets at 00:00 UTC",
            retry_after=max(1, int((tomorrow - now).total_seconds())),
        )
    session.commit()


def usage_today(session: Session, lender_id: int, now: datetime) -> int:
    used = session.scalar(
        select(TokenUsage.elements).where(
            TokenUsage.lender_id == lender_id, TokenUsage.day == now.date()
        )
    )
    return used or 0


def set_quota(
    session: Session, lender: Lender, quota: int | None, now: datetime, actor: audit.Actor
) -> None:
    if quota is not None and quota < 1:
        raise InvalidInput("quota must be positive", [FieldError("quota", "must be ≥ 1")])
    begin_write(session)
    old = lender.token_quota_per_day
    lender.token_quota_per_day = quota
    audit.record(
        session, actor, "token_quota_set", now, f"lender:{lender.code}", {"old": old, "new": quota}
    )
    session.commit()


# -- operator look-up ------------------------------------------------------------------------


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
    session.rollback()
    output = signer.evaluate(info.current.key_id, inner)
    token = output[:32].hex()
    begin_write(session)
    audit.record(
        session,
        actor,
        "token_lookup",
        now,
        f"borrower:{token}",
        {"id_kind": kind, "key_id": info.current.key_id, "reason": reason},
    )
    session.commit()
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


# -- key life cycle and rotation -------------------------------------------------------------


def has_current_key(session: Session) -> bool:
    found = session.scalar(select(TokenKey.key_id).where(TokenKey.state == KeyState.CURRENT))
    session.rollback()
    return found is not None


def init_key(session: Session, signer: Signer, now: datetime, actor: audit.Actor) -> TokenKey:
    begin_write(session)
    if session.scalar(select(TokenKey).where(TokenKey.state == KeyState.CURRENT)) is not None:
        session.rollback()
        raise Conflict("a token key already exists; replace it with 'registry keys rotate'")
    key_id, public = signer.create_key(now.date())
    key = TokenKey(key_id=key_id, public_key=public, state=KeyState.CURRENT, created_at=now)
    session.add(key)
    audit.record(session, actor, "token_key_created", now, f"key:{key_id}")
    session.commit()
    return key


def start_rotation(
    session: Session,
    signer: Signer,
    kind: RotationKind,
    now: datetime,
    actor: audit.Actor,
    label: str = "",
    next_pepper_fingerprint: str | None = None,
) -> TokenRotation:
    """Open a window: a new key (kind key) or a new pepper under the same key (kind pepper,
    with the new pepper's fingerprint when the consortium gave one)."""
    if next_pepper_fingerprint is not None:
        if kind != RotationKind.PEPPER:
            raise InvalidInput(
                "a key rotation keeps the pepper",
                [FieldError("fingerprint", "only a pepper rotation announces a new pepper")],
            )
        next_pepper_fingerprint = _check_fingerprint(next_pepper_fingerprint)
    begin_write(session)
    if open_rotation(session) is not None:
        session.rollback()
        raise Conflict("a rotation window is already open; retire or cancel it first")
    current = session.scalar(select(TokenKey).where(TokenKey.state == KeyState.CURRENT))
    if current is None:
        session.rollback()
        raise TokensUnavailable("no token key yet; create it with 'registry keys init'")
    next_key_id = current.key_id
    if kind == RotationKind.KEY:
        key_id, public = signer.create_key(now.date())
        session.add(TokenKey(key_id=key_id, public_key=public, state=KeyState.NEXT, created_at=now))
        next_key_id = key_id
    if next_pepper_fingerprint is not None:
        session.add(
            PepperCheck(fingerprint=next_pepper_fingerprint, state=KeyState.NEXT, created_at=now)
        )
    rotation = TokenRotation(
        kind=kind.value,
        label=label,
        current_key_id=current.key_id,
        next_key_id=next_key_id,
        opened_at=now,
    )
    session.add(rotation)
    session.flush()
    audit.record(
        session,
        actor,
        "token_rotation_opened",
        now,
        f"rotation:{rotation.id}",
        {"kind": kind.value, "label": label, "next_key_id": next_key_id},
    )
    session.commit()
    return rotation


@dataclass(frozen=True)
class LenderProgress:
    code: str
    status: str
    open_loans: int
    without_next: int  # open loans not yet re-reported with their next token

    @property
    def done(self) -> bool:
        return self.without_next == 0


def rotation_progress(session: Session) -> list[LenderProgress]:
    """Per lender: open loans, and how many still lack a token under the next key/pepper."""
    missing = func.sum(
        case((and_(Loan.loan_ref.is_not(None), Loan.borrower_next.is_(None)), 1), else_=0)
    )
    rows = session.execute(
        select(Lender.code, Lender.status, func.count(Loan.loan_ref), func.coalesce(missing, 0))
        .join(
            Loan,
            and_(Loan.lender_id == Lender.id, Loan.status != LoanStatus.CLOSED),
            isouter=True,
        )
        .group_by(Lender.id, Lender.code, Lender.status)
        .order_by(Lender.code)
    ).all()
    return [LenderProgress(code, status, int(n), int(m)) for code, status, n, m in rows]


@dataclass
class RetireResult:
    kind: str
    mapped_borrowers: int = 0
    rewritten: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    destroyed_key: str | None = None


_TOKEN_TABLES: tuple[Any, ...] = (Loan, LoanHistory, LoanRef, Inquiry, InquiryKey)


def retire_rotation(
    session: Session, signer: Signer, now: datetime, actor: audit.Actor, force: bool = False
) -> RetireResult:
    """End the window: every stored token becomes its next token, the old tokens (and, for a
    key rotation, the old key) are destroyed. Refuses while an open loan has no next token,
    unless `force` (those loans are then deleted, since their tokens can no longer match)."""
    rotation = _closing_window(session)
    token_map = _build_token_map(session)
    try:
        _check_map(session, token_map, force)
        result = RetireResult(rotation.kind)
        result.mapped_borrowers = session.execute(
            select(func.count()).select_from(token_map)
        ).scalar_one()
        mapped_old = select(token_map.c.old)
        for model in _TOKEN_TABLES:
            table = model.__table__
            dropped = _rowcount(
                session.execute(delete(table).where(table.c.borrower.not_in(mapped_old)))
            )
            new_token = (
                select(token_map.c.new).where(token_map.c.old == table.c.borrower).scalar_subquery()
            )
            values: dict[str, Any] = {"borrower": new_token}
            if "borrower_next" in table.c:
                values["borrower_next"] = None
            rewritten = _rowcount(session.execute(update(table).values(**values)))
            result.rewritten[table.name] = rewritten
            result.dropped[table.name] = dropped
    finally:
        token_map.drop(session.connection())
    if rotation.kind == RotationKind.KEY:
        old = session.get_one(TokenKey, rotation.current_key_id)
        old.state, old.retired_at = KeyState.RETIRED, now
        session.flush()  # one current key at a time
        session.get_one(TokenKey, rotation.next_key_id).state = KeyState.CURRENT
        result.destroyed_key = old.key_id
    if rotation.kind == RotationKind.PEPPER:
        _retire_fingerprint(session, KeyState.CURRENT, now)
        session.execute(
            update(PepperCheck)
            .where(PepperCheck.state == KeyState.NEXT)
            .values(state=KeyState.CURRENT)
        )
    rotation.closed_at, rotation.outcome = now, "retired"
    audit.record(
        session,
        actor,
        "token_rotation_retired",
        now,
        f"rotation:{rotation.id}",
        {
            "kind": rotation.kind,
            "forced": force,
            "mapped_borrowers": result.mapped_borrowers,
            "dropped": result.dropped,
            "destroyed_key": result.destroyed_key,
        },
    )
    session.commit()
    if result.destroyed_key:
        signer.destroy_key(result.destroyed_key)
    return result


def cancel_rotation(session: Session, signer: Signer, now: datetime, actor: audit.Actor) -> None:
    """Abandon the window: the next tokens (and a next key) are discarded, nothing else moves."""
    rotation = _closing_window(session)
    for model in (Loan, Inquiry):
        session.execute(update(model).values(borrower_next=None))
    discarded = None
    if rotation.kind == RotationKind.KEY:
        upcoming = session.get_one(TokenKey, rotation.next_key_id)
        upcoming.state, upcoming.retired_at = KeyState.RETIRED, now
        discarded = upcoming.key_id
    _retire_fingerprint(session, KeyState.NEXT, now)
    rotation.closed_at, rotation.outcome = now, "cancelled"
    audit.record(session, actor, "token_rotation_cancelled", now, f"rotation:{rotation.id}", {})
    session.commit()
    if discarded:
        signer.destroy_key(discarded)


def _closing_window(session: Session) -> TokenRotation:
    """The open window, in a write transaction that holds every lender (to retire or
    cancel it)."""
    begin_write(session)
    _hold_every_lender(session)
    rotation = open_rotation(session)
    if rotation is None:
        session.rollback()
        raise NotFound("no rotation window is open")
    return rotation


def _hold_every_lender(session: Session) -> None:
    """Lock every lender row (PostgreSQL; SQLite's write lock already excludes all writers).
    Uploads lock their lender before they look at the window, and inquiries carrying a
    second token do too: none of them can slip in between the map and the rewrite, and
    once the window is closed they see it closed."""
    session.execute(select(Lender.id).order_by(Lender.id).with_for_update())


def _build_token_map(session: Session) -> Table:
    """A temporary old -> next token map: from the loans' pairs first (what lenders reported),
    then from inquiries' pairs for borrowers no loan names (and only unambiguous ones)."""
    _refuse_split_borrowers(session)
    token_map = Table(
        "token_map",
        MetaData(),
        Column("old", LargeBinary(32), primary_key=True),
        Column("new", LargeBinary(32), nullable=False),
        prefixes=["TEMPORARY"],
    )
    token_map.create(session.connection())
    loan_pairs = (
        select(Loan.borrower, Loan.borrower_next).where(Loan.borrower_next.is_not(None)).distinct()
    )
    session.execute(insert(token_map).from_select(["old", "new"], loan_pairs))
    ambiguous = (
        select(Inquiry.borrower)
        .where(Inquiry.borrower_next.is_not(None))
        .group_by(Inquiry.borrower)
        .having(func.count(func.distinct(Inquiry.borrower_next)) > 1)
    )
    inquiry_pairs = (
        select(Inquiry.borrower, Inquiry.borrower_next)
        .where(
            Inquiry.borrower_next.is_not(None),
            ~exists().where(token_map.c.old == Inquiry.borrower),
            Inquiry.borrower.not_in(ambiguous),
        )
        .distinct()
    )
    session.execute(insert(token_map).from_select(["old", "new"], inquiry_pairs))
    return token_map


def _refuse_split_borrowers(session: Session) -> None:
    split = session.execute(
        select(Loan.borrower)
        .where(Loan.borrower_next.is_not(None))
        .group_by(Loan.borrower)
        .having(func.count(func.distinct(Loan.borrower_next)) > 1)
        .limit(1)
    ).first()
    if split is not None:
        raise Conflict(WRONG_SECRET)


def _check_map(session: Session, token_map: Table, force: bool) -> None:
    """Refuse a map that would merge or split borrowers, or (unforced) while a lender has
    not re-reported its open loans."""
    merged = session.execute(
        select(token_map.c.new).group_by(token_map.c.new).having(func.count() > 1).limit(1)
    ).first()
    if merged is not None:
        raise Conflict(WRONG_SECRET)
    if force:
        return
    # Every lender re-reports: that proves each can make next tokens, which it must from
    # the moment the window closes.
    waiting = [p for p in rotation_progress(session) if not p.done]
    if waiting:
        names = ", ".join(f"{p.code} ({p.without_next})" for p in waiting)
        raise Conflict(
            f"open loans without a next token: {names}. They must re-report "
            "('lender-client retokenize'), or retire with --force: loans whose borrower no "
            "other lender re-reported are then deleted."
        )


def _rowcount(result: Any) -> int:
    return int(result.rowcount)
