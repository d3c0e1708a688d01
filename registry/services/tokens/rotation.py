"""Rotation windows, for a new OPRF key or a new consortium pepper: open one, follow the
lenders re-reporting their open books with next tokens, then retire it (every stored token
becomes its next token) or cancel it.

Retiring and cancelling hold every lender row for the caller's unit of work. The old key's
secret file is destroyed by the caller once that unit of work is committed
(`RetireResult.destroyed_key`, the key id `cancel_rotation` returns).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
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
from sqlalchemy.orm import Session

from registry.models import (
    Inquiry,
    InquiryKey,
    KeyState,
    Lender,
    Loan,
    LoanCorrection,
    LoanHistory,
    LoanMonth,
    LoanRef,
    LoanStatus,
    PepperCheck,
    RotationKind,
    TokenKey,
    TokenRotation,
)
from registry.services import audit
from registry.services.errors import Conflict, FieldError, InvalidInput, NotFound
from registry.services.tokens.keys import (
    TokensUnavailable,
    check_fingerprint,
    open_rotation,
    retire_fingerprint,
)
from registry.signer import Signer

WRONG_PEPPER_OR_KEY = (
    "lenders reported different next tokens for one borrower (or one next token for two "
    "borrowers): a lender is tokenising with the wrong pepper or key. Nothing was changed; "
    "find it with 'registry keys status', then fix that lender or cancel the window."
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


# Retractions' tombstones keep the token they were made with (an audit record, not a loan).
_TOKEN_TABLES: tuple[Any, ...] = (
    Loan,
    LoanHistory,
    LoanMonth,
    LoanCorrection,
    LoanRef,
    Inquiry,
    InquiryKey,
)


def retire_rotation(
    session: Session, now: datetime, actor: audit.Actor, force: bool = False
) -> RetireResult:
    """End the window: every stored token becomes its next token, the old tokens (and, for a
    key rotation, the old key) are destroyed. Refuses while an open loan has no next token,
    unless `force` (those loans are then deleted, since their tokens can no longer match).

    The caller destroys `destroyed_key` with the signer once its unit of work is committed:
    before, a failed commit would leave the database naming a key whose secret is gone."""
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
            "dropped": result.dropped,
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
    for model in (Loan, Inquiry):
        session.execute(update(model).values(borrower_next=None))
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
        raise Conflict(WRONG_PEPPER_OR_KEY)


def _check_map(session: Session, token_map: Table, force: bool) -> None:
    """Refuse a map that would merge or split borrowers, or (unforced) while a lender has
    not re-reported its open loans."""
    merged = session.execute(
        select(token_map.c.new).group_by(token_map.c.new).having(func.count() > 1).limit(1)
    ).first()
    if merged is not None:
        raise Conflict(WRONG_PEPPER_OR_KEY)
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
