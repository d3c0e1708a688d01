"""Engine, sessions and the one transaction rule.

Services do the work inside a session and flush; they never commit or roll back. The caller
that owns a unit of work (an HTTP request, a CLI command, a background job) opens it with
:func:`transaction`, which commits when the block ends and rolls back when it raises. SQLite is
tuned for a single-file deployment: a writing unit of work takes the write lock when it
begins (see :func:`begin_write`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Connection, Engine, Table, create_engine, event, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

WRITE_OPTION: Final = "registry_write"


def make_engine(url: str, **kwargs: Any) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, **kwargs)
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        # Plain "postgresql://" URLs get the psycopg 3 driver the project installs.
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    kwargs.setdefault("pool_pre_ping", True)
    # Bound values hold tokens and consent references: keep them out of error messages.
    kwargs.setdefault("hide_parameters", True)
    return create_engine(url, **kwargs)


def _sqlite_engine(url: str, **kwargs: Any) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    kwargs.setdefault("hide_parameters", True)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Readers never wait (WAL). A transaction that will write takes the write lock when
        # it begins, so that it cannot fail half-way when its snapshot turns out stale.
        writes = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")

    return engine


def begin_write(session: Session) -> None:
    """Start the session's write transaction (ending a read-only one first, e.g. the
    authentication lookup). On SQLite it holds the database's write lock from its first
    statement; elsewhere it is an ordinary transaction. A no-op inside a write transaction."""
    if session.get_bind().dialect.name != "sqlite":
        return  # elsewhere a transaction may read, then write, at no risk
    if session.in_transaction():
        if session.connection().get_execution_options().get(WRITE_OPTION, False):
            return
        if session.new or session.dirty or session.deleted:
            raise RuntimeError("begin_write() after changes in a read transaction")
        session.commit()
    session.connection(execution_options={WRITE_OPTION: True})


def upsert(session: Session, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT on ``table`` that can say ON CONFLICT: both backends spell it alike
    (``on_conflict_do_update``/``_nothing``, ``excluded``), but each dialect has its own."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


# A sum of BIGINT money can pass int64 (SQLite then fails with "integer overflow"): summed
# as high and low 32-bit halves, each sum stays small for any count of rows below 2**31, and
# `exact_total` puts the exact total back together in Python.
_HALF = 2**32


def split_sum(column: Any) -> tuple[Any, Any]:
    """Two aggregate expressions whose results `exact_total` makes the exact SUM(column) of
    non-negative integers, on either backend, whatever the total."""
    return func.sum(column // _HALF), func.sum(column % _HALF)


def exact_total(high: Any, low: Any) -> int:
    return int(high or 0) * _HALF + int(low or 0)


def make_session_factory(bind: Engine | Connection) -> sessionmaker[Session]:
    """Sessions on ``bind``. Bound to a connection already in a transaction (a test's), a
    session's transaction is a savepoint inside it: its commit does not end the outer one."""
    return sessionmaker(bind=bind, expire_on_commit=False, join_transaction_mode="create_savepoint")


@contextmanager
def transaction(session: Session, *, write: bool = True) -> Iterator[Session]:
    """One unit of work on ``session``: commit when the block ends, roll back if it raises.

    ``write=True`` (the default) begins a writing transaction (:func:`begin_write`: on SQLite
    it holds the write lock from the first statement, so a read-then-write cannot fail half
    way); ``write=False`` is for work that only reads. Whatever read transaction the session
    had open (an authentication look-up, say) is ended first.
    """
    if write:
        begin_write(session)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
