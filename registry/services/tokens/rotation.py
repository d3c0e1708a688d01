"""Rotation windows, for a new OPRF key or a new consortium pepper: open one, follow the
lenders covering what they hold with next tokens (`rotation_status`, `rotation_pending`),
settle conflicts between them (`rotation_drop`), then retire it (every stored token becomes
its next token, `rotation_rekey`) or cancel it.

Retiring and cancelling hold every lender row for the caller's unit of work. The old key's
secret file is destroyed by the caller once that unit of work is committed
(`RetireResult.destroyed_key`, the key id `cancel_rotation` returns).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from registry.models import (
    KeyState,
    Lender,
    Loan,
    LoanStatus,
    PepperCheck,
    RotationKind,
    TokenKey,
    TokenRotation,
)
from registry.services import audit
from registry.services.errors import Conflict, FieldError, InvalidInput, NotFound
from registry.services.tokens import rotation_rekey as rekeying
from registry.services.tokens.keys import (
    TokensUnavailable,
    check_fingerprint,
    open_rotation,
    retire_fingerprint,
)
from registry.services.tokens.rotation_rows import HOLDINGS, STATEMENTS, retention_cutoff
from registry.services.tokens.rotation_status import (
    lender_blockers,
    mapping_conflicts,
    rotation_status,
)
from registry.signer import Signer

WRONG_PEPPER_OR_KEY = (
    "Lenders gave different next tokens for one borrower (or one next token for two "
    "borrowers): a lender is tokenising with the wrong pepper or key. Nothing was changed; "
    "'registry keys status' names the lenders."
)


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
        next_pepper_fingerprint = check_fingerprint(next_pepper_fingerprint)
    if open_rotation(session) is not None:
        raise Conflict("a rotation window is already open; retire or cancel it first")
    current = session.scalar(select(TokenKey).where(TokenKey.state == KeyState.CURRENT))
    if current is None:
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
    session.flush()
    return rotation


@dataclass(frozen=True)
class LenderProgress:
    code: str
    status: str
    open_loans: int
    without_next: int  # rows within retention it has no next token for (any kind)

    @property
    def done(self) -> bool:
        return self.without_next == 0


def rotation_progress(session: Session, now: datetime) -> list[LenderProgress]:
    """Per lender: open loans, and its rows still without a next token (the full picture,
    with conflicts, is `rotation_status`)."""
    open_loans = dict(
        session.execute(
            select(Loan.lender_id, func.count())
            .where(Loan.status == LoanStatus.OPEN)
            .group_by(Loan.lender_id)
        )
        .tuples()
        .all()
    )
    ids = dict(session.execute(select(Lender.code, Lender.id)).tuples().all())
    return [
        LenderProgress(b.code, b.status, int(open_loans.get(ids[b.code], 0)), b.total)
        for b in lender_blockers(session, retention_cutoff(now))
    ]


@dataclass
class RetireResult:
    kind: str
    mapped_borrowers: int = 0
    rewritten: dict[str, int] = field(default_factory=dict)  # table -> rows re-keyed
    # Rows deleted because nobody mapped their borrower (a forced retire): table -> lender
    # code ("-" for rows no lender holds) -> rows.
    dropped: dict[str, dict[str, int]] = field(default_factory=dict)
    expired: dict[str, int] = field(default_factory=dict)  # past retention, nobody mapped
    phones: dict[str, int] = field(default_factory=dict)  # phone sightings, always dropped
    kept: dict[str, int] = field(default_factory=dict)  # records left under the old token
    destroyed_key: str | None = None

    @property
    def lost(self) -> int:
        return sum(sum(per_lender.values()) for per_lender in self.dropped.values())


def retire_rotation(
    session: Session, now: datetime, actor: audit.Actor, force: bool = False
) -> RetireResult:
    """End the window: every stored token becomes its next token, the old tokens (and, for a
    key rotation, the old key) are destroyed.

    Refuses while lenders' mappings conflict (`registry keys drop-mapping` settles that) or,
    unless `force`, while any row within retention lacks a next token (`rotation_status`
    lists them). Forced, rows whose borrower nobody mapped are deleted: an explicit loss,
    counted per table and lender in the result and the audit event. Either way, inquiries
    and outcomes past retention that nobody mapped, and the phone sightings (keyed by phone
    tokens under the old key), are removed.

    The caller destroys `destroyed_key` with the signer once its unit of work is committed:
    before, a failed commit would leave the database naming a key whose secret is gone."""
    rotation = _closing_window(session)
    _refuse_conflicts(session)
    if not force:
        _refuse_missing(session, now)
    result = RetireResult(rotation.kind)
    token_map = rekeying.build_token_map(session)
    try:
        result.mapped_borrowers = rekeying.map_size(session, token_map)
        rekeying.rekey(session, token_map, retention_cutoff(now), result)
    finally:
        token_map.drop(session.connection())
    if result.lost and not force:
        # The checks above make this impossible; refuse rather than lose anything.
        raise Conflict(f"the retire would delete rows nobody mapped: {result.dropped}")
    if rotation.kind == RotationKind.KEY:
        old = session.get_one(TokenKey, rotation.current_key_id)
        old.state, old.retired_at = KeyState.RETIRED, now
        session.flush()  # one current key at a time
        session.get_one(TokenKey, rotation.next_key_id).state = KeyState.CURRENT
        result.destroyed_key = old.key_id
    if rotation.kind == RotationKind.PEPPER:
        retire_fingerprint(session, KeyState.CURRENT, now)
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
            "rewritten": result.rewritten,
            "dropped": result.dropped,
            "expired": result.expired,
            "phones_dropped": result.phones,
            "kept_under_old_token": result.kept,
            "destroyed_key": result.destroyed_key,
        },
    )
    session.flush()
    return result


def cancel_rotation(session: Session, now: datetime, actor: audit.Actor) -> str | None:
    """Abandon the window: the next tokens (and a next key) are discarded, nothing else moves.
    Returns the discarded next key, for the caller to destroy with the signer once its unit
    of work is committed (None for a pepper rotation)."""
    rotation = _closing_window(session)
    for table in (*(h.table for h in HOLDINGS), STATEMENTS):
        session.execute(update(table).values(borrower_next=None))
    discarded = None
    if rotation.kind == RotationKind.KEY:
        upcoming = session.get_one(TokenKey, rotation.next_key_id)
        upcoming.state, upcoming.retired_at = KeyState.RETIRED, now
        discarded = upcoming.key_id
    retire_fingerprint(session, KeyState.NEXT, now)
    rotation.closed_at, rotation.outcome = now, "cancelled"
    audit.record(session, actor, "token_rotation_cancelled", now, f"rotation:{rotation.id}", {})
    session.flush()
    return discarded


def _closing_window(session: Session) -> TokenRotation:
    """The open window, with every lender held (to retire or cancel it). The caller's unit
    of work must be a writing one (on SQLite it then holds the write lock already)."""
    _hold_every_lender(session)
    rotation = open_rotation(session)
    if rotation is None:
        raise NotFound("no rotation window is open")
    return rotation


def _hold_every_lender(session: Session) -> None:
    """Lock every lender row (PostgreSQL; SQLite's write lock already excludes all writers).
    Uploads lock their lender before they look at the window, and inquiries carrying a
    second token do too: none of them can slip in between the map and the rewrite, and
    once the window is closed they see it closed."""
    session.execute(select(Lender.id).order_by(Lender.id).with_for_update())


def _refuse_conflicts(session: Session) -> None:
    conflicts, count = mapping_conflicts(session, limit=5)
    if count:
        named = "; ".join(
            f"{c.kind} {c.token.hex()[:16]}... ({', '.join(c.lenders)})" for c in conflicts
        )
        raise Conflict(
            f"{count} conflicting mapping(s): {named}. {WRONG_PEPPER_OR_KEY} Or drop the "
            "wrong lender's mappings: 'registry keys drop-mapping --lender CODE'."
        )


def _refuse_missing(session: Session, now: datetime) -> None:
    status = rotation_status(session, now)
    waiting = [f"{b.code} ({b.describe()})" for b in status.blocking]
    if status.statements:
        waiting.append(f"{status.statements} borrower statements nobody mapped")
    if waiting:
        raise Conflict(
            "rows within retention have no next token yet: "
            + "; ".join(waiting)
            + ". Lenders cover them with 'lender-client retokenize' (see 'registry keys "
            "status'); or retire with --force: rows whose borrower nobody mapped are then "
            "deleted."
        )
