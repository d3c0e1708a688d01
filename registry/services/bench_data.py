"""A synthetic book at national scale, written straight into PostgreSQL (`registry bench-data`).

Borrower number `b` (1, 2, ...) has the token SHA-256("bench-borrower-<b>"), so a load
generator can name existing borrowers without reading millions of tokens back.

The shape (seeded, reproducible; the rows themselves are `bench_rows.py`):
- loans per borrower: 62 % owe one lender, 24 % two, 6 % three, 3 % four, 3.5 % five to
  nine and 1.5 % ten to thirty, each loan at a different lender;
- 72 % of loans open (85 % current, 10 % 1-30 days past due, 5 % 31-180), 21 % closed and
  7 % written off (90-720 days past due); a few reports are stale (40-200 days old);
- history: every loan's latest state, and for each loan more than 30 days past due the
  state a month earlier; months (`loan_months`) from the loan's opening up to `months`
  back, a delinquency rolling back 30 days a month, a closure or write-off in its last month;
- inquiries over the last 120 days, skewed so that a few borrowers are asked about often.

How it stays fast: borrowers are written in the order of their tokens (the leading column
of every per-borrower key), so the keys are rebuilt from presorted rows; one Python thread
generates chunks of text rows for the five tables and feeds five COPY streams at once, one
connection each, so that five PostgreSQL backends parse in parallel while Python generates.
Each connection empties its table first, in its own transaction, so COPY may FREEZE (no
VACUUM has to visit the rows later). Keys, indexes and foreign keys of the five tables are
dropped before and rebuilt after, from their own catalogue definitions, on two connections.

Units of work: the lenders (with their API keys) are the caller's (`create_lenders`, in the
caller's transaction); the bulk load (`load`) commits on its own connections, because five
parallel streams cannot share one transaction. It refuses a book that already holds loans;
a load that fails part way leaves a partial book: drop the database and start again.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.copy import QueuedLibpqWriter
from sqlalchemy import text
from sqlalchemy.orm import Session

from registry.services import lenders as lender_service
from registry.services.bench_rows import (
    COPY_COLUMNS,
    MOST_LOANS,
    BookRows,
    Chunk,
    borrower_token,
)
from registry.services.errors import FieldError, InvalidInput

__all__ = ["BenchPlan", "BenchResult", "borrower_token", "create_lenders", "load"]

BULK_TABLES = tuple(COPY_COLUMNS)
_CHUNK_BORROWERS = 10_000
# The two index builders' shares: each a table list, about equal work.
_REBUILD_SHARES = (("loans", "loan_refs", "loan_history"), ("loan_months", "inquiries"))

ProgressLog = Callable[[str], None]


@dataclass(frozen=True)
class BenchPlan:
    loans: int
    inquiries: int
    lenders: int = 40
    months: int = 6
    seed: int = 42
    lender_prefix: str = "bench"


@dataclass
class BenchLenders:
    ids: list[int] = field(default_factory=list)
    keys: list[tuple[str, str]] = field(default_factory=list)  # (code, API key)
    submission_ids: dict[int, str] = field(default_factory=dict)


@dataclass
class BenchResult:
    borrowers: int = 0  # borrower numbers 1..borrowers all hold loans
    loans: int = 0
    history: int = 0
    months: int = 0
    inquiries: int = 0
    loans_by_borrower_count: dict[int, int] = field(default_factory=dict)
    status_counts: dict[str, int] = field(default_factory=dict)
    steps: dict[str, float] = field(default_factory=dict)  # seconds per step


def check_plan(plan: BenchPlan) -> None:
    problems: list[FieldError] = []
    if plan.loans < 1:
        problems.append(FieldError("loans", "must be at least 1"))
    if plan.inquiries < 0:
        problems.append(FieldError("inquiries", "must not be negative"))
    if plan.lenders < MOST_LOANS:
        problems.append(FieldError("lenders", f"must be at least {MOST_LOANS} (the tail owes 30)"))
    if not 1 <= plan.months <= 24:
        problems.append(FieldError("months", "must be between 1 and 24"))
    if problems:
        raise InvalidInput("invalid bench-data plan", problems)


def create_lenders(session: Session, plan: BenchPlan, now: datetime) -> BenchLenders:
    """The bench's lenders, each with an API key and one seed submission its loans name."""
    check_plan(plan)
    if session.get_bind().dialect.name != "postgresql":
        raise InvalidInput("bench-data needs PostgreSQL", [FieldError("database", "is SQLite")])
    if session.execute(text("SELECT EXISTS (SELECT 1 FROM loans)")).scalar():
        raise InvalidInput("bench-data fills an empty book", [FieldError("loans", "has rows")])
    made = BenchLenders()
    for n in range(1, plan.lenders + 1):
        code = f"{plan.lender_prefix}{n:03d}"
        lender, key = lender_service.create_lender(session, code, f"Benchmark lender {n}", now)
        # Give to get: a bulk load writes no uploads, and its lenders inquire anyway.
        lender.reciprocity_exempt_until = now + timedelta(days=365)
        session.flush()
        made.ids.append(lender.id)
        made.keys.append((code, key.secret))
        made.submission_ids[lender.id] = str(uuid.uuid4())
    session.execute(
        text(
            "INSERT INTO submissions (id, lender_id, idempotency_key, request_hash, records, "
            "accepted, unchanged, stale, rejected, response, created_at) VALUES (:id, :lender, "
            "NULL, sha256('bench-data'::bytea), 0, 0, 0, 0, 0, '{}', :now)"
        ),
        [{"id": s, "lender": i, "now": now} for i, s in made.submission_ids.items()],
    )
    return made


def load(
    url: str, plan: BenchPlan, lenders: BenchLenders, now: datetime, log: ProgressLog
) -> BenchResult:
    """Fill the book (see the module docstring); `url` is a psycopg connection string."""
    check_plan(plan)
    result = BenchResult()
    timer = _Timer(result, log)
    with psycopg.connect(url) as connection:
        if connection.execute("SELECT EXISTS (SELECT 1 FROM loans)").fetchone() != (False,):
            raise InvalidInput("bench-data fills an empty book", [FieldError("loans", "has rows")])
        definitions = [_definitions(connection, table) for table in BULK_TABLES]
        with timer.step("drop keys and indexes"):
            for defs in definitions:
                _drop(connection, defs)
            connection.commit()
    rng = random.Random(plan.seed)  # noqa: S311 - synthetic data, reproducible by seed
    rows = BookRows(rng, now, lenders.ids, lenders.submission_ids, plan.months)
    with timer.step("generate and COPY loans, references, history, months, inquiries"):
        _stream(url, plan, rows, result)
    by_table = {defs.table: defs for defs in definitions}
    with timer.step("rebuild keys and indexes (two connections)"):
        _parallel(url, [[by_table[t] for t in share] for share in _REBUILD_SHARES], _rebuild_keys)
    with psycopg.connect(url, autocommit=True) as connection:
        with timer.step("foreign keys"):
            for defs in definitions:
                for name, definition in defs.foreign:
                    connection.execute(
                        f'ALTER TABLE {defs.table} ADD CONSTRAINT "{name}" {definition}'
                    )
        with timer.step("analyse"):
            for table in (*BULK_TABLES, "lenders", "api_keys", "submissions"):
                connection.execute(f"ANALYZE {table}")
        rebuilt = [_definitions(connection, table) for table in BULK_TABLES]
    if rebuilt != definitions:
        raise RuntimeError("keys or indexes differ after the rebuild")
    return result


def _stream(url: str, plan: BenchPlan, rows: BookRows, result: BenchResult) -> None:
    borrowers = rows.plan(plan.loans)
    with ExitStack() as stack:
        copies: dict[str, Any] = {}
        for table, columns in COPY_COLUMNS.items():
            connection = stack.enter_context(psycopg.connect(url))
            connection.execute("SET synchronous_commit = off")
            connection.execute(f"TRUNCATE {table}")  # in this transaction: COPY may FREEZE
            # ... unless the table is hash-partitioned (registry/partitioning.py).
            kind = connection.execute(
                "SELECT relkind FROM pg_class WHERE oid = %s::regclass", (table,)
            ).fetchone()
            freeze = " WITH (FREEZE)" if kind == ("r",) else ""
            cursor = stack.enter_context(connection.cursor())
            copies[table] = stack.enter_context(
                cursor.copy(
                    f"COPY {table} ({columns}) FROM STDIN{freeze}",
                    writer=QueuedLibpqWriter(cursor),
                )
            )
        made = asked = 0
        while rows.planned:
            chunk = Chunk()
            rows.loans(chunk, _CHUNK_BORROWERS)
            made += chunk.loans
            due = plan.inquiries * made // plan.loans - asked  # in step with the loans
            rows.inquiries(chunk, due, borrowers)
            asked += due
            for table, lines in chunk.text.items():
                if lines:
                    copies[table].write("".join(lines))
        # Leaving the stack ends each COPY, then commits each connection.
    tally = rows.tally
    result.borrowers, result.loans, result.inquiries = borrowers, made, asked
    result.history, result.months = tally.history, tally.months
    result.loans_by_borrower_count = dict(sorted(tally.loans_by_borrower_count.items()))
    result.status_counts = dict(tally.status_counts)


def _parallel(
    url: str,
    shares: list[list[_Definitions]],
    work: Callable[[psycopg.Connection[Any], _Definitions], None],
) -> None:
    failures: list[BaseException] = []

    def run(share: list[_Definitions]) -> None:
        try:
            with psycopg.connect(url) as connection:
                connection.execute("SET maintenance_work_mem = '1GB'")
                for defs in share:
                    work(connection, defs)
                connection.commit()
        except BaseException as exc:  # reported by the caller's thread
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(share,)) for share in shares]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]


# -- keys and indexes ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Definitions:
    table: str
    keys: tuple[tuple[str, str], ...]  # primary and unique constraints: (name, definition)
    foreign: tuple[tuple[str, str], ...]
    indexes: tuple[str, ...]  # CREATE INDEX statements of the plain indexes
    index_names: tuple[str, ...]


def _definitions(connection: psycopg.Connection[Any], table: str) -> _Definitions:
    constraints = connection.execute(
        "SELECT conname, pg_get_constraintdef(oid), contype FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype IN ('p', 'u', 'f') ORDER BY conname",
        (table,),
    ).fetchall()
    indexes = connection.execute(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "WHERE i.indrelid = %s::regclass AND NOT EXISTS (SELECT 1 FROM pg_constraint c "
        "WHERE c.conrelid = i.indrelid AND c.conindid = i.indexrelid) ORDER BY 1",
        (table,),
    ).fetchall()
    return _Definitions(
        table=table,
        keys=tuple((name, d) for name, d, kind in constraints if kind in ("p", "u")),
        foreign=tuple((name, d) for name, d, kind in constraints if kind == "f"),
        indexes=tuple(d for _, d in indexes),
        index_names=tuple(name for name, _ in indexes),
    )


def _drop(connection: psycopg.Connection[Any], defs: _Definitions) -> None:
    for name, _ in (*defs.foreign, *defs.keys):
        connection.execute(f'ALTER TABLE {defs.table} DROP CONSTRAINT "{name}"')
    for name in defs.index_names:
        connection.execute(f'DROP INDEX "{name}"')


def _rebuild_keys(connection: psycopg.Connection[Any], defs: _Definitions) -> None:
    for name, definition in defs.keys:
        connection.execute(f'ALTER TABLE {defs.table} ADD CONSTRAINT "{name}" {definition}')
    for statement in defs.indexes:
        connection.execute(statement)


class _Timer:
    def __init__(self, result: BenchResult, log: ProgressLog) -> None:
        self.result, self.log = result, log

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        yield
        elapsed = time.perf_counter() - started
        self.result.steps[name] = round(elapsed, 3)
        self.log(f"  {name}: {elapsed:.1f} s")
