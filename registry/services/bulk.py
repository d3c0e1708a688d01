"""Many rows in one statement: how a batch of loan reports reaches the tables.

On PostgreSQL a batch's rows are COPYed straight into the table, or, where a clash with a
stored row must be decided (an upsert), into a temporary staging table and moved into the
table by one ``INSERT ... SELECT`` with its ON CONFLICT clause: a fixed number of statements
whatever the number of rows, where an executemany had the server execute one INSERT per row
(most of a batch's time), and COPY's rows are formatted by psycopg's C code. SQLite keeps
the plain executemany: it runs in process, so a statement per row costs no round trip.
"""

from __future__ import annotations

import hashlib
import operator
from collections.abc import Callable, Collection, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Table, any_, bindparam, column, select
from sqlalchemy import table as sql_table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

# Adds an ON CONFLICT clause (or anything else) to the insert it is given.
Conflict = Callable[[Any], Any]


def is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def insert_rows(
    session: Session,
    table: Table,
    rows: Sequence[dict[str, Any]],
    conflict: Conflict | None = None,
) -> None:
    """Insert ``rows`` (dicts with the same keys) into ``table``, ``conflict`` deciding what
    a clash with a stored row does. No statement for no rows."""
    if not rows:
        return
    if not is_postgresql(session):
        statement: Any = sqlite.insert(table)
        session.execute(conflict(statement) if conflict else statement, list(rows))
        return
    names = list(rows[0])
    if conflict is None:  # nothing to decide on a clash: straight into the table
        _copy(session, table.name, names, rows)
        return
    # One staging table per connection and column list: created once, emptied at each commit.
    stage = f"stage_{table.name}_{hashlib.sha256(','.join(names).encode()).hexdigest()[:8]}"
    connection = session.connection()
    connection.exec_driver_sql(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS "  # noqa: S608
        f"AS SELECT {_columns(names)} FROM {table.name} WITH NO DATA"
    )
    connection.exec_driver_sql(f"TRUNCATE {stage}")  # rows staged earlier in this transaction
    _copy(session, stage, names, rows)
    staged = sql_table(stage, *[column(name) for name in names])
    pg_statement: Any = postgresql.insert(table).from_select(
        names, select(*[staged.c[name] for name in names])
    )
    session.execute(conflict(pg_statement))


def _columns(names: list[str]) -> str:
    return ", ".join(f'"{name}"' for name in names)


def _copy(session: Session, table: str, names: list[str], rows: Sequence[dict[str, Any]]) -> None:
    """``COPY table FROM STDIN`` on the session's connection, inside its transaction. COPY
    has no SQLAlchemy statement, so a driver error is turned into SQLAlchemy's here (an
    outage, a timeout or a full disk then reads as such, and a dead connection leaves the
    pool), as it would be for any statement."""
    connection = session.connection()
    driver = connection.connection.driver_connection
    assert driver is not None
    statement = f"COPY {table} ({_columns(names)}) FROM STDIN"
    values = operator.itemgetter(*names)
    dbapi = connection.dialect.loaded_dbapi
    try:
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(values(row))
    except dbapi.Error as exc:
        gone = connection.dialect.is_disconnect(exc, driver, None)
        if gone:
            connection.invalidate(exc)
        raise DBAPIError.instance(
            statement,
            None,
            exc,
            dbapi.Error,
            hide_parameters=True,
            connection_invalidated=gone,
            dialect=connection.dialect,
        ) from exc


def one_of(session: Session, column: Any, values: Collection[Any]) -> ColumnElement[bool]:
    """``column IN values``; on PostgreSQL ``column = ANY(array)``, a single parameter that
    neither grows the statement nor its planning with the number of values."""
    if not is_postgresql(session):
        return column.in_(values)  # type: ignore[no-any-return]
    values_type = postgresql.ARRAY(column.type)
    return column == any_(bindparam(None, list(values), type_=values_type))  # type: ignore[no-any-return]
