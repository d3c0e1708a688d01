"""The retire's rewrite: from the lenders' mappings, an old -> next token map (a temporary
table that lives inside the retiring unit of work only), then every token-keyed table moved
to the next tokens.

A row's token is changed by inserting the row under its next token and deleting the old one
where the token leads the primary key (tables distributed by token cannot update their
distribution column); tables keyed by lender (`loan_refs`, `inquiry_keys`) are updated.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Column,
    ColumnElement,
    LargeBinary,
    MetaData,
    Table,
    and_,
    cast,
    delete,
    exists,
    false,
    func,
    insert,
    null,
    select,
    update,
)
from sqlalchemy.orm import Session

from registry.models import Lender, LoanRetraction
from registry.services.errors import Conflict
from registry.services.tokens.rotation_rows import (
    INQUIRIES,
    OUTCOMES,
    PHONE_TABLES,
    REKEYED,
    lender_pairs,
    table_of,
)

if TYPE_CHECKING:
    from datetime import datetime

    from registry.services.tokens.rotation import RetireResult

# Tables whose rows are past retention from this column on (inquiry keys go with their
# inquiries).
_RETENTION_SINCE = {
    INQUIRIES.table.name: "created_at",
    OUTCOMES.table.name: "recorded_at",
    "inquiry_keys": "created_at",
}
NO_LENDER = "-"


def build_token_map(session: Session) -> Table:
    """The old -> next map from every lender's mappings. The caller has refused conflicting
    ones, so each old token has one next token; the caller drops the table."""
    token_map = Table(
        "token_map",
        MetaData(),
        Column("old", LargeBinary(32), primary_key=True),
        Column("new", LargeBinary(32), nullable=False),
        prefixes=["TEMPORARY"],
    )
    token_map.create(session.connection())
    pairs = lender_pairs().subquery()
    session.execute(
        insert(token_map).from_select(["old", "new"], select(pairs.c.old, pairs.c.new).distinct())
    )
    later = token_map.alias("later")
    chain = session.execute(
        select(token_map.c.old).join(later, later.c.old == token_map.c.new).limit(1)
    ).first()
    if chain is not None:
        # A next token that is also an old one: rewriting would delete what it just wrote.
        raise Conflict(
            "a next token sent by a lender is another borrower's current token: a lender "
            "tokenises with the wrong pepper or key. Find it with 'registry keys status'."
        )
    return token_map


def map_size(session: Session, token_map: Table) -> int:
    return int(session.execute(select(func.count()).select_from(token_map)).scalar_one())


def rekey(session: Session, token_map: Table, cutoff: datetime, result: RetireResult) -> None:
    """Move every token-keyed table to the next tokens, filling `result` with what was
    rewritten, and what was deleted (dropped, expired) or kept under its old token."""
    codes = dict(session.execute(select(Lender.id, Lender.code)).tuples().all())
    for table in REKEYED:
        unmapped = ~exists().where(token_map.c.old == table.c.borrower)
        kept = _kept(table)
        expired = _expired(table, cutoff)
        gone = and_(unmapped, ~kept)
        if "lender_id" in table.c:
            per_lender = session.execute(
                select(table.c.lender_id, func.count())
                .where(gone, ~expired)
                .group_by(table.c.lender_id)
            ).tuples()
            dropped = {codes[lender_id]: int(n) for lender_id, n in per_lender}
        else:
            n = _count(session, table, and_(gone, ~expired))
            dropped = {NO_LENDER: n} if n else {}
        if dropped:
            result.dropped[table.name] = dropped
        if (count := _count(session, table, and_(gone, expired))) > 0:
            result.expired[table.name] = count
        if (count := _count(session, table, and_(unmapped, kept))) > 0:
            result.kept[table.name] = count
        session.execute(delete(table).where(gone))
        result.rewritten[table.name] = _rewrite(session, table, token_map)
    for table in PHONE_TABLES:
        result.phones[table.name] = _rowcount(session.execute(delete(table)))


def _rewrite(session: Session, table: Table, token_map: Table) -> int:
    if "borrower" not in table.primary_key.columns:
        new_token = (
            select(token_map.c.new).where(token_map.c.old == table.c.borrower).scalar_subquery()
        )
        moved = session.execute(
            update(table)
            .where(exists().where(token_map.c.old == table.c.borrower))
            .values(borrower=new_token)
        )
        return _rowcount(moved)
    columns: list[ColumnElement[Any]] = []
    for column in table.c:
        if column.name == "borrower":
            columns.append(token_map.c.new.label("borrower"))
        elif column.name == "borrower_next":
            columns.append(cast(null(), LargeBinary).label("borrower_next"))
        else:
            columns.append(column)
    source = select(*columns).join_from(table, token_map, token_map.c.old == table.c.borrower)
    session.execute(insert(table).from_select([c.name for c in table.c], source))
    # Counted by the delete: psycopg reports no row count for an INSERT ... SELECT here (-1),
    # and every row moved is one old row deleted.
    return _rowcount(
        session.execute(delete(table).where(table.c.borrower.in_(select(token_map.c.old))))
    )


def _kept(table: Table) -> ColumnElement[bool]:
    """Records of what corrections replaced in a loan since retracted keep their token, as
    the retraction's tombstone does: an audit record, not a loan anyone reports on."""
    if table.name != "loan_corrections":
        return false()
    tombstones = table_of(LoanRetraction)
    return exists().where(
        tombstones.c.lender_id == table.c.lender_id,
        tombstones.c.loan_ref == table.c.loan_ref,
        tombstones.c.borrower == table.c.borrower,
    )


def _expired(table: Table, cutoff: datetime) -> ColumnElement[bool]:
    since = _RETENTION_SINCE.get(table.name)
    return false() if since is None else table.c[since] < cutoff


def _count(session: Session, table: Table, where: ColumnElement[bool]) -> int:
    statement = select(func.count()).select_from(table).where(where)
    return int(session.execute(statement).scalar_one())


def _rowcount(result: Any) -> int:
    return int(result.rowcount)
