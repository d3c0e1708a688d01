"""The token-keyed tables as a rotation window sees them: which rows a lender holds, where
each row's next token comes from, and which rows retention no longer asks to keep.

A lender *maps* an old token when any row it holds about that borrower (a loan, an inquiry,
an application outcome, a dispute of one of its loans) carries a next token: re-reporting
one loan, sending one inquiry or `POST /v1/tokens/rotation/mappings` covers all its rows
about the borrower. A borrower statement, which no lender holds, is covered by any lender's
mapping of its token. These predicates are shared by the status, the lender's pending list
and the retirement, so that what blocks a retire is exactly what the lists show.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any, TypeVar, cast

from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    and_,
    exists,
    false,
    or_,
    select,
    true,
    union_all,
)

from registry.models import (
    ApplicationOutcome,
    BorrowerPhone,
    BorrowerStatement,
    Dispute,
    Inquiry,
    InquiryKey,
    Loan,
    LoanCorrection,
    LoanHistory,
    LoanMonth,
    LoanRef,
    PhoneBorrower,
)
from registry.services.retention import RECORD_RETENTION_MONTHS, first_kept_day


def table_of(model: type[Any]) -> Table:
    return cast(Table, model.__table__)


def retention_cutoff(now: datetime) -> datetime:
    """Inquiries and application outcomes made before this are past retention (2 years, to
    the day, as the retention run counts): not waited for, and removed at the retire if
    nobody mapped their borrower."""
    first_day = first_kept_day(now.date(), RECORD_RETENTION_MONTHS)
    return datetime.combine(first_day, time.min, tzinfo=UTC)


@dataclass(frozen=True)
class Holding:
    """A table of rows a lender holds about a borrower, each needing a next token."""

    kind: str  # as the pending list and the status name it
    table: Table
    key: str  # the row's own reference, unique per lender
    since: str | None  # when retention starts counting; None: kept whatever its age

    def within_retention(self, table: Table, cutoff: datetime) -> ColumnElement[bool]:
        return true() if self.since is None else table.c[self.since] >= cutoff


LOANS = Holding("loan", table_of(Loan), "loan_ref", None)
INQUIRIES = Holding("inquiry", table_of(Inquiry), "id", "created_at")
OUTCOMES = Holding("application_outcome", table_of(ApplicationOutcome), "inquiry_id", "recorded_at")
# A dispute belongs to the lender whose loan it disputes (`lender_id`), who answers it.
DISPUTES = Holding("dispute", table_of(Dispute), "id", None)
HOLDINGS = (LOANS, INQUIRIES, OUTCOMES, DISPUTES)
STATEMENTS = table_of(BorrowerStatement)

# Every table a retire re-keys, parents before the rows derived from them.
REKEYED: tuple[Table, ...] = (
    LOANS.table,
    table_of(LoanHistory),
    table_of(LoanMonth),
    table_of(LoanCorrection),
    table_of(LoanRef),
    INQUIRIES.table,
    table_of(InquiryKey),
    OUTCOMES.table,
    DISPUTES.table,
    STATEMENTS,
)
# Phone sightings are keyed by phone tokens made under the old key or pepper, which no
# lender re-sends: they cannot be re-keyed, and a retire drops them (a 90-day signal).
PHONE_TABLES: tuple[Table, ...] = (table_of(BorrowerPhone), table_of(PhoneBorrower))


def lender_pairs() -> Select[Any]:
    """(lender_id, old, new) for every row a lender holds that carries a next token."""
    parts = [
        select(
            h.table.c.lender_id.label("lender_id"),
            h.table.c.borrower.label("old"),
            h.table.c.borrower_next.label("new"),
        ).where(h.table.c.borrower_next.is_not(None))
        for h in HOLDINGS
    ]
    return cast(Select[Any], union_all(*parts))


def mapped_by_lender(lender_id: Any, borrower: Any) -> ColumnElement[bool]:
    """Whether the lender has a next token for the borrower, on any row it holds."""
    checks = []
    for holding in HOLDINGS:
        other = holding.table.alias()
        checks.append(
            exists().where(
                other.c.borrower == borrower,
                other.c.lender_id == lender_id,
                other.c.borrower_next.is_not(None),
            )
        )
    return or_(*checks)


def mapped_by_anyone(borrower: Any) -> ColumnElement[bool]:
    checks = []
    for holding in HOLDINGS:
        other = holding.table.alias()
        checks.append(
            exists().where(other.c.borrower == borrower, other.c.borrower_next.is_not(None))
        )
    return or_(*checks)


def uncovered(holding: Holding, table: Table, cutoff: datetime) -> ColumnElement[bool]:
    """A row within retention whose lender has no next token for its borrower: it blocks
    the retire (and is on the lender's pending list)."""
    return and_(
        holding.within_retention(table, cutoff),
        ~mapped_by_lender(table.c.lender_id, table.c.borrower),
    )


def expired_unmapped(holding: Holding, table: Table, cutoff: datetime) -> ColumnElement[bool]:
    """A row past retention that nobody mapped: not waited for, removed at the retire."""
    if holding.since is None:
        return false()
    return and_(table.c[holding.since] < cutoff, ~mapped_by_anyone(table.c.borrower))


def statement_uncovered(table: Table) -> ColumnElement[bool]:
    return and_(table.c.borrower_next.is_(None), ~mapped_by_anyone(table.c.borrower))


T = TypeVar("T")


def chunks(items: Sequence[T], size: int = 500) -> Iterator[Sequence[T]]:
    """Bounded IN lists (SQLite allows 32,766 parameters a statement, PostgreSQL 65,535)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
