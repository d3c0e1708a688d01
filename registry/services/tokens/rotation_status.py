"""What stands between an open rotation window and its retirement, for `registry keys
status` and the retire itself: per lender, the rows within retention it has no next token
for; borrower statements nobody mapped; conflicts between lenders' mappings; and what the
retire will remove anyway (rows past retention nobody mapped, phone sightings)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry.models import Lender, LoanStatus
from registry.services.tokens.rotation_rows import (
    HOLDINGS,
    LOANS,
    PHONE_TABLES,
    STATEMENTS,
    expired_unmapped,
    lender_pairs,
    retention_cutoff,
    statement_uncovered,
    uncovered,
)

# The status lists this many conflicts in full (and counts all of them): a lender with a
# wrong pepper conflicts on every borrower it shares, and one drop-mapping settles them all.
CONFLICTS_LISTED = 50


@dataclass(frozen=True)
class LenderBlockers:
    """A lender's rows within retention that have no next token yet, by kind."""

    code: str
    status: str
    loans: dict[str, int] = field(default_factory=dict)  # by loan status
    inquiries: int = 0
    application_outcomes: int = 0
    disputes: int = 0

    @property
    def total(self) -> int:
        return sum(self.loans.values()) + self.inquiries + self.application_outcomes + self.disputes

    @property
    def blocking(self) -> bool:
        return self.total > 0

    def describe(self) -> str:
        parts = [f"{n} {status} loans" for status, n in sorted(self.loans.items()) if n]
        for label, count in (
            ("inquiries", self.inquiries),
            ("application outcomes", self.application_outcomes),
            ("disputes", self.disputes),
        ):
            if count:
                parts.append(f"{count} {label}")
        return ", ".join(parts) or "nothing"


@dataclass(frozen=True)
class Claim:
    lender: str
    token: bytes  # the next token a lender gave (split) or the old token it mapped (merge)


@dataclass(frozen=True)
class MappingConflict:
    """Lenders disagree: one old token mapped to different next tokens ("split"), or one
    next token given for different old tokens ("merge"). Someone tokenises with the wrong
    pepper or key; the operator drops that lender's mapping."""

    kind: str  # "split" or "merge"
    token: bytes  # the old token (split) or the next token (merge)
    claims: list[Claim]

    @property
    def lenders(self) -> list[str]:
        return sorted({claim.lender for claim in self.claims})


@dataclass(frozen=True)
class RotationStatus:
    lenders: list[LenderBlockers]
    statements: int  # borrower statements whose token nobody mapped
    conflicts: list[MappingConflict]  # the first CONFLICTS_LISTED
    conflict_count: int
    expired: dict[str, int]  # table -> rows past retention nobody mapped (removed at retire)
    phones: dict[str, int]  # table -> phone sightings (dropped at retire)
    mapped_borrowers: int

    @property
    def blocking(self) -> list[LenderBlockers]:
        return [lender for lender in self.lenders if lender.blocking]

    @property
    def ready(self) -> bool:
        """Nothing within retention lacks a next token, and no mappings conflict."""
        return not self.blocking and not self.statements and not self.conflict_count


def rotation_status(session: Session, now: datetime) -> RotationStatus:
    cutoff = retention_cutoff(now)
    conflicts, conflict_count = mapping_conflicts(session)
    return RotationStatus(
        lenders=lender_blockers(session, cutoff),
        statements=_count(session, select(func.count()).where(statement_uncovered(STATEMENTS))),
        conflicts=conflicts,
        conflict_count=conflict_count,
        expired={
            h.table.name: _count(
                session,
                select(func.count())
                .select_from(h.table)
                .where(expired_unmapped(h, h.table, cutoff)),
            )
            for h in HOLDINGS
            if h.since is not None
        },
        phones={
            table.name: _count(session, select(func.count()).select_from(table))
            for table in PHONE_TABLES
        },
        mapped_borrowers=_count(
            session, select(func.count(func.distinct(lender_pairs().subquery().c.old)))
        ),
    )


def lender_blockers(session: Session, cutoff: datetime) -> list[LenderBlockers]:
    """Every lender (suspended and exited ones too: their rows block as well), with its rows
    within retention that have no next token."""
    loans: dict[int, dict[str, int]] = defaultdict(dict)
    counts: dict[str, dict[int, int]] = {}
    table = LOANS.table
    for lender_id, status, n in session.execute(
        select(table.c.lender_id, table.c.status, func.count())
        .where(uncovered(LOANS, table, cutoff))
        .group_by(table.c.lender_id, table.c.status)
    ):
        loans[lender_id][status] = int(n)
    for holding in HOLDINGS[1:]:
        table = holding.table
        rows = session.execute(
            select(table.c.lender_id, func.count())
            .where(uncovered(holding, table, cutoff))
            .group_by(table.c.lender_id)
        ).tuples()
        counts[holding.kind] = {lender_id: int(n) for lender_id, n in rows}
    lenders = session.execute(select(Lender.id, Lender.code, Lender.status).order_by(Lender.code))
    return [
        LenderBlockers(
            code,
            status,
            {s.value: loans[lender_id].get(s.value, 0) for s in LoanStatus},
            counts["inquiry"].get(lender_id, 0),
            counts["application_outcome"].get(lender_id, 0),
            counts["dispute"].get(lender_id, 0),
        )
        for lender_id, code, status in lenders
    ]


def mapping_conflicts(
    session: Session, limit: int = CONFLICTS_LISTED
) -> tuple[list[MappingConflict], int]:
    """Splits (one old token, several next tokens) then merges (one next token, several
    old tokens), each with the lenders behind every claim; and how many there are in all."""
    pairs = lender_pairs().subquery()
    found: list[MappingConflict] = []
    total = 0
    for kind, key, other in (
        ("split", pairs.c.old, pairs.c.new),
        ("merge", pairs.c.new, pairs.c.old),
    ):
        disputed = select(key).group_by(key).having(func.count(func.distinct(other)) > 1)
        total += _count(session, select(func.count()).select_from(disputed.subquery()))
        room = limit - len(found)
        if room <= 0:
            continue
        listed = disputed.order_by(key).limit(room)
        claims: dict[bytes, set[tuple[str, bytes]]] = defaultdict(set)
        for token, code, claimed in session.execute(
            select(key, Lender.code, other)
            .join(Lender, Lender.id == pairs.c.lender_id)
            .where(key.in_(listed))
            .distinct()
        ):
            claims[bytes(token)].add((code, bytes(claimed)))
        found.extend(
            MappingConflict(kind, token, [Claim(c, t) for c, t in sorted(claims[token])])
            for token in sorted(claims)
        )
    return found, total


def conflicting_tokens_of(session: Session, lender_id: int) -> list[bytes]:
    """The old tokens the lender maps that are in a split or a merge."""
    pairs = lender_pairs().subquery()
    split = (
        select(pairs.c.old).group_by(pairs.c.old).having(func.count(func.distinct(pairs.c.new)) > 1)
    )
    merged_news = (
        select(pairs.c.new).group_by(pairs.c.new).having(func.count(func.distinct(pairs.c.old)) > 1)
    )
    rows = session.scalars(
        select(pairs.c.old)
        .where(pairs.c.lender_id == lender_id)
        .where(pairs.c.old.in_(split) | pairs.c.new.in_(merged_news))
        .distinct()
    )
    return sorted(bytes(token) for token in rows)


def _count(session: Session, statement: Any) -> int:
    return int(session.execute(statement).scalar_one())
