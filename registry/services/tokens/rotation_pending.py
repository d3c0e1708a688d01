"""A lender's side of a rotation window: what it holds that has no next token yet
(`GET /v1/tokens/rotation/pending`), and next tokens for borrowers it names by their
current token (`POST /v1/tokens/rotation/mappings`, what `lender-client retokenize` sends
for closed loans and inquiries, which no upload carries).

Only the caller's own rows are listed or changed, and whether they are pending depends on
the caller's own mappings alone: nothing here says whether another lender knows a borrower.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, Table, bindparam, func, null, select, union, update
from sqlalchemy.orm import Session

from registry.models import Lender, LoanStatus
from registry.services.errors import Conflict, FieldError, InvalidInput
from registry.services.tokens.keys import open_rotation
from registry.services.tokens.rotation_rows import (
    HOLDINGS,
    INQUIRIES,
    LOANS,
    OUTCOMES,
    Holding,
    chunks,
    retention_cutoff,
    uncovered,
)

DEFAULT_PAGE, MAX_PAGE = 100, 1000
MAX_MAPPINGS = 1000
KINDS = tuple(h.kind for h in HOLDINGS)
NO_WINDOW = (
    "no token rotation window is open: there is nothing to re-tokenise "
    "(GET /v1/tokens/key shows the rotation, if any)"
)


class NoRotationWindow(Conflict):
    """The request only makes sense while a rotation window is open."""


@dataclass(frozen=True)
class PendingRow:
    kind: str
    borrower: bytes
    loan_ref: str | None
    inquiry_id: str | None
    dispute_id: str | None
    status: str | None  # a loan's or a dispute's
    created_at: datetime | None


@dataclass(frozen=True)
class PendingTotals:
    loans: dict[str, int]  # by loan status, each status present
    inquiries: int
    application_outcomes: int
    disputes: int
    borrowers: int  # distinct tokens among all of them

    @property
    def total(self) -> int:
        return sum(self.loans.values()) + self.inquiries + self.application_outcomes + self.disputes


@dataclass(frozen=True)
class PendingPage:
    rows: list[PendingRow]
    after: tuple[str, str] | None  # (kind, key) of the last row, when more follow
    totals: PendingTotals


def _require_window(session: Session) -> None:
    if open_rotation(session) is None:
        raise NoRotationWindow(NO_WINDOW)


def _columns(holding: Holding) -> dict[str, Any]:
    """What a pending row of each kind says about itself (null where it has no such thing)."""
    c = holding.table.c
    none = null()
    if holding is LOANS:
        return {
            "loan_ref": c.loan_ref,
            "inquiry_id": none,
            "dispute_id": none,
            "status": c.status,
            "created_at": c.first_reported_at,
        }
    if holding is INQUIRIES:
        return {
            "loan_ref": none,
            "inquiry_id": c.id,
            "dispute_id": none,
            "status": none,
            "created_at": c.created_at,
        }
    if holding is OUTCOMES:
        return {
            "loan_ref": c.loan_ref,
            "inquiry_id": c.inquiry_id,
            "dispute_id": none,
            "status": c.outcome,
            "created_at": c.inquired_at,
        }
    return {
        "loan_ref": c.loan_ref,
        "inquiry_id": c.inquiry_id,
        "dispute_id": c.id,
        "status": c.status,
        "created_at": c.opened_at,
    }


def _rows_of(holding: Holding, lender_id: int, cutoff: datetime) -> Select[Any]:
    """The lender's pending rows of one kind, with their paging key first."""
    t = holding.table
    described = [column.label(name) for name, column in _columns(holding).items()]
    return select(t.c[holding.key].label("key"), t.c.borrower, *described).where(
        t.c.lender_id == lender_id, uncovered(holding, t, cutoff)
    )


def pending_page(
    session: Session,
    lender_id: int,
    now: datetime,
    kind: str | None = None,
    after: tuple[str, str] | None = None,
    limit: int = DEFAULT_PAGE,
) -> PendingPage:
    """One page of the lender's rows without a next token: loans first (by loan_ref), then
    inquiries, application outcomes (by inquiry id) and disputes (by id); `after` is the
    (kind, key) of the last row of the page before."""
    _require_window(session)
    cutoff = retention_cutoff(now)
    holdings = [h for h in HOLDINGS if kind is None or h.kind == kind]
    if after is not None:
        holdings = holdings[[h.kind for h in holdings].index(after[0]) :]
    found: list[tuple[str, PendingRow]] = []
    for holding in holdings:
        room = limit + 1 - len(found)  # one more than the page: is there a next one?
        if room <= 0:
            break
        rows = _rows_of(holding, lender_id, cutoff).subquery()
        statement = select(rows).order_by(rows.c.key).limit(room)
        if after is not None and after[0] == holding.kind:
            statement = statement.where(rows.c.key > after[1])
        found.extend(
            (
                row.key,
                PendingRow(
                    holding.kind,
                    bytes(row.borrower),
                    row.loan_ref,
                    row.inquiry_id,
                    row.dispute_id,
                    row.status,
                    row.created_at,
                ),
            )
            for row in session.execute(statement)
        )
    page = found[:limit]
    last = (page[-1][1].kind, page[-1][0]) if len(found) > limit else None
    return PendingPage(
        [row for _, row in page], last, pending_totals(session, lender_id, cutoff, kind)
    )


def pending_totals(
    session: Session, lender_id: int, cutoff: datetime, kind: str | None = None
) -> PendingTotals:
    counts: dict[str, int] = {}
    loans = {status.value: 0 for status in LoanStatus}
    borrowers = []
    for holding in HOLDINGS:
        if kind is not None and holding.kind != kind:
            counts[holding.kind] = 0
            continue
        t = holding.table
        mine = (t.c.lender_id == lender_id, uncovered(holding, t, cutoff))
        borrowers.append(select(t.c.borrower).where(*mine))
        if holding.kind == "loan":
            for status, n in session.execute(
                select(t.c.status, func.count()).where(*mine).group_by(t.c.status)
            ):
                loans[status] = int(n)
        else:
            counts[holding.kind] = int(
                session.execute(select(func.count()).select_from(t).where(*mine)).scalar_one()
            )
    distinct = union(*borrowers).subquery() if borrowers else None
    return PendingTotals(
        loans,
        counts["inquiry"],
        counts["application_outcome"],
        counts["dispute"],
        0
        if distinct is None
        else int(session.execute(select(func.count()).select_from(distinct)).scalar_one()),
    )


# -- next tokens sent by the lender -----------------------------------------------------------


@dataclass
class MappingOutcome:
    matched: int = 0  # pairs whose old token names rows of the lender
    unmatched: int = 0
    rows: dict[str, int] = field(default_factory=dict)  # by kind: rows now carrying it


def map_next_tokens(
    session: Session, lender_id: int, pairs: list[tuple[bytes, bytes]]
) -> MappingOutcome:
    """Give every row the lender holds about each old token that token's next token (a
    later mapping replaces an earlier one, as a re-report does). Pairs naming no row of the
    lender change nothing and are counted as unmatched."""
    errors = _check_pairs(pairs)
    if errors:
        raise InvalidInput("the mappings are invalid", errors)
    # The upload's lock: a retire (which holds every lender) is not raced.
    session.execute(select(Lender.id).where(Lender.id == lender_id).with_for_update(key_share=True))
    _require_window(session)
    wanted = dict(pairs)
    outcome = MappingOutcome()
    seen: set[bytes] = set()
    for holding in HOLDINGS:
        t = holding.table
        hits: dict[bytes, int] = {}
        for part in chunks(list(wanted)):
            hits.update(
                (bytes(old), int(n))
                for old, n in session.execute(
                    select(t.c.borrower, func.count())
                    .where(t.c.lender_id == lender_id, t.c.borrower.in_(part))
                    .group_by(t.c.borrower)
                )
            )
        if hits:
            _set_next(session, t, lender_id, [(old, wanted[old]) for old in hits])
        seen.update(hits)
        outcome.rows[holding.kind] = sum(hits.values())
    outcome.matched = len(seen)
    outcome.unmatched = len(wanted) - len(seen)
    session.flush()
    return outcome


def set_next_tokens(session: Session, lender_id: int, pairs: list[tuple[bytes, bytes]]) -> None:
    """Every row the lender holds about each old token gets that token's next token."""
    for holding in HOLDINGS:
        _set_next(session, holding.table, lender_id, pairs)


def _set_next(
    session: Session, table: Table, lender_id: int, pairs: list[tuple[bytes, bytes]]
) -> None:
    statement = (
        update(table)
        .where(table.c.lender_id == lender_id, table.c.borrower == bindparam("old"))
        .values(borrower_next=bindparam("new"))
        .execution_options(synchronize_session=False)
    )
    session.execute(statement, [{"old": old, "new": new} for old, new in pairs])


def _check_pairs(pairs: list[tuple[bytes, bytes]]) -> list[FieldError]:
    errors: list[FieldError] = []
    if not 1 <= len(pairs) <= MAX_MAPPINGS:
        return [FieldError("mappings", f"must hold 1 to {MAX_MAPPINGS} mappings")]
    given: dict[bytes, bytes] = {}
    for index, (old, new) in enumerate(pairs):
        if old == new:
            errors.append(
                FieldError(f"mappings[{index}].borrower_next", "must differ from borrower")
            )
        elif given.setdefault(old, new) != new:
            errors.append(
                FieldError(
                    f"mappings[{index}].borrower_next",
                    "the same borrower is mapped to another next token earlier in the batch",
                )
            )
    return errors
