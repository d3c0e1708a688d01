"""Engine, sessions and the one transaction rule.

Services do the work inside a session and flush; they never commit or roll back. The caller
that owns a unit of work (an HTTP request, a CLI command, a background job) opens it with
:func:`transaction`, which commits when the block ends and rolls back when it raises. SQLite is
tuned for a single-file deployment: a writing unit of work takes the write lock when it
begins (see :func:`begin_write`).
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Connection, Engine, Table, create_engine, event, func
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

WRITE_OPTION: Final = "registry_write"
# Without a connect timeout libpq waits for the operating system's (minutes) on a host that
# drops packets: a request would hang long past any HTTP timeout.
DEFAULT_CONNECT_TIMEOUT: Final = 10
# Seconds a caller is asked to wait (Retry-After) after a 503 for a database outage: short,
# since a restart or a fail-over takes seconds.
UNAVAILABLE_RETRY_AFTER: Final = 2


def make_engine(
    url: str,
    *,
    connect_timeout: int = DEFAULT_CONNECT_TIMEOUT,
    statement_timeout: int = 0,
    **kwargs: Any,
) -> Engine:
    """The engine for ``url``. On PostgreSQL, ``connect_timeout`` bounds each connection
    attempt and ``statement_timeout`` (seconds, 0 for none) each statement; ``pool_timeout``
    (a keyword of SQLAlchemy's) bounds the wait for a free pooled connection. A pooled
    connection idle for more than `IDLE_PING_SECONDS` is pinged before use (`_ping_if_idle`),
    so that the pool recovers by itself once the database is back after an outage or a
    restart; one in constant use is not, which saves a busy server a round trip a request."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, **kwargs)
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        # Plain "postgresql://" URLs get the psycopg 3 driver the project installs.
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    if parsed.get_backend_name() == "postgresql":
        connect_args: dict[str, Any] = {"connect_timeout": connect_timeout}
        if statement_timeout > 0:
            connect_args["options"] = f"-c statement_timeout={statement_timeout * 1000}"
        kwargs["connect_args"] = {**connect_args, **kwargs.get("connect_args", {})}
    # Bound values hold tokens and consent references: keep them out of error messages.
    kwargs.setdefault("hide_parameters", True)
    engine = create_engine(url, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        event.listen(engine, "checkin", _note_checkin)
        event.listen(engine, "checkout", partial(_ping_if_idle, engine.dialect))
    return engine


# A connection used less than this long ago is trusted without a ping. If the database went
# away meanwhile, the request fails with a 503 (Retry-After) and the pool drops every
# connection opened before the failure, so the next request connects afresh.
IDLE_PING_SECONDS: Final = 1.0
_CHECKED_IN = "registry_checked_in"


def _note_checkin(_dbapi_connection: Any, record: Any) -> None:
    record.info[_CHECKED_IN] = time.monotonic()


def _ping_if_idle(dialect: Any, dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    checked_in = record.info.get(_CHECKED_IN)
    if checked_in is None or time.monotonic() - checked_in < IDLE_PING_SECONDS:
        return  # new, or in constant use
    try:
        dialect.do_ping(dbapi_connection)  # as pool_pre_ping does
    except Exception as exc:  # any failure: let the pool replace the connection
        raise sa_exc.DisconnectionError() from exc


@dataclass(frozen=True)
class DatabaseTrouble:
    """Why the database could not serve a request, when it is no fault of the request: the
    HTTP status to answer (503 to try again later, 507 when its storage is full) and what to
    tell the caller."""

    status: int
    detail: str

    @property
    def slug(self) -> str:
        return "insufficient-storage" if self.status == 507 else "unavailable"


_NOTHING_STORED = "nothing of this request was stored"
# A connection lost during a commit leaves its outcome unknown: the idempotency key decides.
_RETRY_IS_SAFE = "a retry with the same Idempotency-Key is safe"
_UNREACHABLE = DatabaseTrouble(
    503, f"the registry's database is not reachable; try again shortly ({_RETRY_IS_SAFE})"
)


def database_trouble(exc: BaseException) -> DatabaseTrouble | None:
    """What a database error means for the caller, when it is an outage, a full disk, a
    read-only file or an overload rather than a fault in the registry (``None``)."""
    if isinstance(exc, sa_exc.TimeoutError):  # no pooled connection free in time
        return DatabaseTrouble(
            503, f"the registry's database is overloaded; try again shortly ({_NOTHING_STORED})"
        )
    if not isinstance(exc, sa_exc.DBAPIError):
        return None
    if exc.connection_invalidated:
        return _UNREACHABLE
    original = exc.orig
    if isinstance(original, sqlite3.Error):
        return _sqlite_trouble(getattr(original, "sqlite_errorname", "") or "")
    if not isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.InternalError):
        return None
    return _postgresql_trouble(getattr(original, "sqlstate", None), exc)


def _sqlite_trouble(name: str) -> DatabaseTrouble | None:
    if name.startswith("SQLITE_FULL"):
        return DatabaseTrouble(507, f"the registry's database disk is full ({_NOTHING_STORED})")
    if name.startswith("SQLITE_IOERR"):
        return DatabaseTrouble(
            507,
            "the registry could not write to its database: the disk is full, a file size "
            f"limit was reached, or the disk failed ({_NOTHING_STORED})",
        )
    if name.startswith("SQLITE_READONLY"):
        return DatabaseTrouble(
            503,
            "the registry's database is read-only: its file (or folder) cannot be written "
            f"({_NOTHING_STORED})",
        )
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return DatabaseTrouble(
            503, f"the registry's database is busy; try again shortly ({_NOTHING_STORED})"
        )
    if name.startswith("SQLITE_CANTOPEN"):
        return DatabaseTrouble(503, "the registry cannot open its database file")
    return None


def _postgresql_trouble(sqlstate: str | None, exc: sa_exc.DBAPIError) -> DatabaseTrouble | None:
    if sqlstate == "53100":
        return DatabaseTrouble(507, f"the registry's database disk is full ({_NOTHING_STORED})")
    if sqlstate == "57014":
        return DatabaseTrouble(
            503, f"the registry's database took too long; try again shortly ({_NOTHING_STORED})"
        )
    if sqlstate == "25006":
        return DatabaseTrouble(
            503, f"the registry's database is read-only (a standby?) ({_NOTHING_STORED})"
        )
    if sqlstate is None or sqlstate.startswith(("08", "57P", "53")):
        # No answer at all (refused, reset, timed out), a server shutting down or starting,
        # or out of connections.
        return (
            _UNREACHABLE
            if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError)
            else None
        )
    if sqlstate.startswith("40"):  # serialization failure, deadlock: another request won
        return DatabaseTrouble(
            503, f"the registry was busy with a conflicting request; try again ({_NOTHING_STORED})"
        )
    return None


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


def core(session: Session) -> Connection:
    """The session's connection, for a hot path's Core statements: they skip the ORM's
    result machinery (a third of an inquiry's CPU went there). Pending ORM changes are
    flushed first, as `Session.execute` would."""
    if session.autoflush:
        session.flush()
    return session.connection()


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
    queue = _writer_queue(session) if write else None
    if queue is None:
        if write:
            begin_write(session)
        yield from _unit_of_work(session)
        return
    with queue:
        begin_write(session)
        yield from _unit_of_work(session)


def _unit_of_work(session: Session) -> Iterator[Session]:
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise


class WriterQueue:
    """SQLite's writers of one database file, one after another, woken as soon as the one
    before them ends. SQLite's own wait for its write lock (busy_timeout) polls, sleeping up
    to 100 ms between tries: with many short writers the unlucky ones waited more than a
    second. An exclusive `flock` on a file beside the database (`<file>-writers`) orders the
    processes (gunicorn's workers, the CLI), a thread lock the threads of one process."""

    def __init__(self, database: str) -> None:
        self.path = f"{database}-writers"
        self._threads = threading.Lock()
        self._fd: int | None = None
        self._pid = 0
        # A unit of work inside another of the same thread (begin_write is then a no-op)
        # is already in the queue.
        self._owner: int | None = None
        self._depth = 0

    def __enter__(self) -> None:
        me = threading.get_ident()
        if self._owner == me:
            self._depth += 1
            return
        self._threads.acquire()
        try:
            if self._fd is None or self._pid != os.getpid():  # opened again in a forked child
                self._fd, self._pid = self._open(), os.getpid()
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._threads.release()
            raise
        self._owner, self._depth = me, 1

    def _open(self) -> int | None:
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            return None  # a read-only folder, say: SQLite itself then says what is wrong

    def __exit__(self, *_exc: object) -> None:
        self._depth -= 1
        if self._depth:
            return
        self._owner = None
        try:
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()


_WRITER_QUEUES: dict[str, WriterQueue] = {}
_QUEUES_LOCK = threading.Lock()


def _writer_queue(session: Session) -> WriterQueue | None:
    """The queue of the session's SQLite file, if it is bound to an engine on one (a test's
    connection, in a transaction of its own, and an in-memory database have none)."""
    bind = session.get_bind()
    if not isinstance(bind, Engine) or bind.dialect.name != "sqlite":
        return None
    database = bind.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    queue = _WRITER_QUEUES.get(database)
    if queue is None:
        with _QUEUES_LOCK:
            queue = _WRITER_QUEUES.setdefault(database, WriterQueue(database))
    return queue
