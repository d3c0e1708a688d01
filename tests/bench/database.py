"""The throwaway database: create and drop it, migrate it, add lenders, bulk-load the data.

The bulk load is set-based SQL only: one `CREATE UNLOGGED TABLE ... AS SELECT` draws every
loan from `generate_series` and `random()` (seeded), and plain `INSERT ... SELECT`s copy it
into `loans`, `loan_refs` and `loan_history`, and draw each loan's months (`loan_months`, up
to 24, from its opening: a delinquency rolls back 30 days a month, a closure or write-off
shows in the month of the report). The loaded tables' keys and indexes are
dropped first and rebuilt afterwards from their own catalogue definitions (checked to be
identical), which is several times faster than maintaining them row by row.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from sqlalchemy.orm import Session

from registry.db import make_engine
from registry.migrations import upgrade
from registry.services import lenders as lender_service
from tests.bench.tokens import sql_borrower_token

_DB_NAME = re.compile(r"registry_bench_[0-9a-f]{8}")
# Tables whose keys and indexes are rebuilt around the bulk load.
BULK_TABLES = ("loans", "loan_refs", "loan_history", "loan_months", "inquiries")
# Loans per borrower: most have one, some have two to six (at as many different lenders).
LOANS_PER_BORROWER = ((1, 0.80), (2, 0.10), (3, 0.05), (4, 0.03), (5, 0.015), (6, 0.005))
MEAN_LOANS_PER_BORROWER = sum(k * p for k, p in LOANS_PER_BORROWER)


@dataclass(frozen=True)
class LenderKey:
    id: int
    code: str
    key: str

    @property
    def prefix(self) -> str:
        return self.key.split("_")[1]


@dataclass
class LoadResult:
    loans: int = 0
    borrowers: int = 0  # borrowers holding at least one loan (numbers 1..borrowers)
    loans_by_borrower_count: dict[int, int] = field(default_factory=dict)
    status_counts: dict[str, int] = field(default_factory=dict)
    inquiries: int = 0
    steps: dict[str, float] = field(default_factory=dict)  # seconds per step
    seconds: float = 0.0  # the whole load, generation to ANALYZE
    table_mb: dict[str, float] = field(default_factory=dict)
    sample_multi_borrower: int = 0  # a borrower number with the most loans
    sample_single_borrower: int = 0


def database_url(pg_url: str, name: str) -> str:
    return f"{pg_url}/{name}"


@contextmanager
def connect(url: str, autocommit: bool = False) -> Iterator[psycopg.Connection[Any]]:
    connection = psycopg.connect(url, autocommit=autocommit, connect_timeout=10)
    try:
        yield connection
    finally:
        connection.close()


def create_database(pg_url: str) -> str:
    name = f"registry_bench_{secrets.token_hex(4)}"
    with connect(database_url(pg_url, "postgres"), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return name


def drop_database(pg_url: str, name: str) -> None:
    if not _DB_NAME.fullmatch(name):  # never drop anything but our own throwaway database
        raise ValueError(f"refusing to drop {name!r}")
    with connect(database_url(pg_url, "postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def server_version(pg_url: str) -> str:
    with connect(database_url(pg_url, "postgres")) as connection:
        row = connection.execute("SELECT version()").fetchone()
    return str(row[0]) if row else "unknown"


def migrate(url: str) -> None:
    upgrade(url)


def create_lenders(url: str, count: int) -> list[LenderKey]:
    engine = make_engine(url)
    now = datetime.now(UTC)
    issued: list[LenderKey] = []
    try:
        with Session(engine) as session:
            for n in range(1, count + 1):
                lender, key = lender_service.create_lender(
                    session, f"bench{n:03d}", f"Benchmark lender {n}", now
                )
                # Give to get: the bulk load writes no uploads; its lenders inquire anyway.
                lender.reciprocity_exempt_until = now + timedelta(days=365)
                issued.append(LenderKey(lender.id, lender.code, key.secret))
            session.commit()
    finally:
        engine.dispose()
    return issued


# -- bulk load -------------------------------------------------------------------------------

_GENERATE = """
CREATE UNLOGGED TABLE bench_seed AS
WITH borrowers AS (
    SELECT b, CASE WHEN r < 0.80 THEN 1 WHEN r < 0.90 THEN 2 WHEN r < 0.95 THEN 3
                   WHEN r < 0.98 THEN 4 WHEN r < 0.995 THEN 5 ELSE 6 END AS k
    FROM (SELECT b, random() AS r FROM generate_series(1, %(borrowers)s::bigint) AS b) AS s
),
pairs AS (
    SELECT b, j::int AS j
    FROM borrowers CROSS JOIN LATERAL generate_series(1, k) AS j
    ORDER BY b, j
    LIMIT %(loans)s
),
drawn AS (
    SELECT b, j, random() AS r_status, random() AS r_product, random() AS r_currency,
           random() AS r_principal, random() AS r_share, random() AS r_dpd, random() AS r_dpd2,
           random() AS r_opened, random() AS r_term, random() AS r_asof, random() AS r_open_end
    FROM pairs
),
shaped AS (
    SELECT b, j,
        (%(lender_ids)s::int[])[1 + mod(b + j, %(lenders)s)] AS lender_id,
        CASE WHEN r_status < 0.70 THEN 'open' WHEN r_status < 0.95 THEN 'closed'
             ELSE 'written_off' END AS status,
        CASE WHEN r_product < 0.30 THEN 'cash_loan' WHEN r_product < 0.55 THEN 'installment'
             WHEN r_product < 0.70 THEN 'credit_line' WHEN r_product < 0.90 THEN 'bnpl'
             WHEN r_product < 0.95 THEN 'auto' WHEN r_product < 0.98 THEN 'mortgage'
             ELSE 'other' END AS product,
        CASE WHEN r_currency < 0.97 THEN 'CNY' ELSE 'USD' END AS currency,
        -- log-uniform from 1,000.00 to 1,000,000.00 in minor units
        round(exp(ln(100000) + r_principal * ln(1000)))::bigint AS principal,
        r_share, r_dpd, r_dpd2, r_open_end,
        current_date - (r_opened * 1800)::int AS opened_on,
        30 + (r_term * 1770)::int AS term_days,
        now() - make_interval(secs => 3600 + r_asof * 86400) AS as_of
    FROM drawn
)
SELECT
    based.*,
    -- An instalment loan's limit is its principal; a line's principal is its limit.
    principal AS credit_limit,
    CASE WHEN product = 'credit_line' OR due_on IS NULL THEN NULL
         ELSE greatest(1, principal / greatest(1, (due_on - opened_on) / 30)) END
        AS scheduled_payment,
    CASE WHEN product = 'credit_line' OR due_on IS NULL THEN NULL ELSE 'monthly' END
        AS payment_frequency,
    CASE WHEN days_past_due > 0
         THEN greatest(1, least(outstanding, outstanding * least(days_past_due, 180) / 180))
         ELSE 0 END AS amount_past_due,
    CASE WHEN status = 'open' THEN NULL
         ELSE greatest(opened_on, least(as_of::date, coalesce(due_on, as_of::date))) END
        AS closed_on
FROM (
SELECT
    b, j, lender_id,
    {token} AS borrower,
    'L' || lpad(b::text, 9, '0') || '-' || j AS loan_ref,
    product, currency, principal,
    CASE status
        WHEN 'closed' THEN 0
        WHEN 'open' THEN greatest(1, (principal * (0.05 + 0.95 * r_share))::bigint)
        ELSE greatest(1, (principal * r_share)::bigint)
    END AS outstanding,
    opened_on,
    CASE WHEN product = 'credit_line' AND r_open_end < 0.5 THEN NULL
         ELSE opened_on + term_days END AS due_on,
    status,
    CASE status
        WHEN 'closed' THEN 0
        WHEN 'written_off' THEN 90 + (r_dpd2 * 630)::int
        ELSE CASE WHEN r_dpd < 0.85 THEN 0
                  WHEN r_dpd < 0.95 THEN 1 + (r_dpd2 * 29)::int
                  ELSE 31 + (r_dpd2 * 149)::int END
    END AS days_past_due,
    as_of,
    least(opened_on::timestamptz + interval '1 day', as_of) AS first_reported_at
FROM shaped
) AS based
""".format(token=sql_borrower_token("b"))

_SEED_SUBMISSION_ID = "md5('bench-seed-' || {lender})::uuid::text"

_INSERT_SUBMISSIONS = """
INSERT INTO submissions (id, lender_id, idempotency_key, request_hash, records, accepted,
                         unchanged, stale, rejected, response, created_at)
SELECT {sid}, lender_id, NULL, sha256('bench-seed'::bytea), count(*), count(*), 0, 0, 0,
       '{{}}'::json, min(first_reported_at)
FROM bench_seed GROUP BY lender_id
""".format(sid=_SEED_SUBMISSION_ID.format(lender="lender_id"))

_STATE = """product, currency, principal, outstanding, opened_on, due_on, status, days_past_due,
       credit_limit, scheduled_payment, payment_frequency, amount_past_due, closed_on"""

_INSERT_LOANS = """
INSERT INTO loans (borrower, lender_id, loan_ref, as_of, first_reported_at, last_reported_at,
                   last_submission_id, {state}, written_off_amount, written_off_on)
SELECT borrower, lender_id, loan_ref, as_of, first_reported_at, as_of, {sid},
       {state},
       CASE WHEN status = 'written_off' THEN outstanding END,
       CASE WHEN status = 'written_off' THEN closed_on END
FROM bench_seed
""".format(sid=_SEED_SUBMISSION_ID.format(lender="lender_id"), state=_STATE)

_INSERT_LOAN_REFS = """
INSERT INTO loan_refs (lender_id, loan_ref, borrower, created_at)
SELECT lender_id, loan_ref, borrower, first_reported_at FROM bench_seed
"""

_INSERT_HISTORY = """
INSERT INTO loan_history (borrower, lender_id, loan_ref, as_of, submission_id, recorded_at,
                          {state})
SELECT borrower, lender_id, loan_ref, as_of, {sid}, first_reported_at,
       {state}
FROM bench_seed
""".format(sid=_SEED_SUBMISSION_ID.format(lender="lender_id"), state=_STATE)

# Up to 24 months per loan, from the month it opened to the month of its report: `k` months
# before the report the loan was max(0, days_past_due - 30 k) days past due (the
# registry_protocol.payment_status alphabet); the report's own month shows C or W.
_INSERT_MONTHS = """
INSERT INTO loan_months (borrower, lender_id, loan_ref, month, status, worst_days_past_due,
                         last_delinquent_on)
SELECT borrower, lender_id, loan_ref, month,
       CASE WHEN k = 0 AND status = 'written_off' THEN 'W'
            WHEN k = 0 AND status = 'closed' THEN 'C'
            WHEN dpd <= 0 THEN '0'
            ELSE least(7, (dpd + 29) / 30)::text END,
       greatest(dpd, 0),
       CASE WHEN dpd <= 0 THEN NULL
            WHEN k = 0 THEN as_of::date
            ELSE (month + interval '1 month' - interval '1 day')::date END
FROM (
    SELECT s.borrower, s.lender_id, s.loan_ref, s.status, s.as_of, s.opened_on, k,
           (date_trunc('month', s.as_of) - make_interval(months => k))::date AS month,
           s.days_past_due - 30 * k AS dpd
    FROM bench_seed AS s CROSS JOIN LATERAL generate_series(0, 23) AS k
) AS m
WHERE month >= date_trunc('month', opened_on)::date
"""

# Earlier inquiries over the last 120 days, skewed so that a few borrowers have many (and
# some trip APPLICATION_SPREE), 90 % of them hard (new_credit).
_INSERT_INQUIRIES = """
INSERT INTO inquiries (borrower, id, lender_id, purpose, consent_ref, amount_requested,
                       currency, flags, created_at, report)
SELECT {token}, gen_random_uuid()::text,
       (%(lender_ids)s::int[])[1 + floor(r_lender * %(lenders)s)::int],
       CASE WHEN r_purpose < 0.9 THEN 'new_credit' ELSE 'account_review' END,
       'seed-' || i, NULL, NULL, '[]'::json,
       now() - make_interval(secs => r_age * 120 * 86400), '{{}}'::json
FROM (
    SELECT i, 1 + floor(power(random(), 2) * %(borrowers)s)::bigint AS b,
           random() AS r_lender, random() AS r_purpose, random() AS r_age
    FROM generate_series(1, %(count)s::bigint) AS i
) AS s
""".format(token=sql_borrower_token("b"))


@dataclass(frozen=True)
class _Definitions:
    """A table's keys and indexes as the catalogue defines them."""

    table: str
    keys: tuple[tuple[str, str], ...]  # primary and unique constraints: (name, definition)
    foreign: tuple[tuple[str, str], ...]
    indexes: tuple[tuple[str, str], ...]  # plain indexes: (name, CREATE INDEX ...)


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
        indexes=tuple((name, d) for name, d in indexes),
    )


def _drop(connection: psycopg.Connection[Any], defs: _Definitions) -> None:
    for name, _ in (*defs.foreign, *defs.keys):
        connection.execute(f'ALTER TABLE {defs.table} DROP CONSTRAINT "{name}"')
    for name, _ in defs.indexes:
        connection.execute(f'DROP INDEX "{name}"')


def _rebuild_keys(connection: psycopg.Connection[Any], defs: _Definitions) -> None:
    for name, definition in defs.keys:
        connection.execute(f'ALTER TABLE {defs.table} ADD CONSTRAINT "{name}" {definition}')
    for _, statement in defs.indexes:
        connection.execute(statement)


def _rebuild_foreign(connection: psycopg.Connection[Any], defs: _Definitions) -> None:
    for name, definition in defs.foreign:
        connection.execute(f'ALTER TABLE {defs.table} ADD CONSTRAINT "{name}" {definition}')


class _Steps:
    def __init__(self, result: LoadResult, log: Any) -> None:
        self.result, self.log = result, log

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        yield
        elapsed = time.perf_counter() - started
        self.result.steps[name] = round(elapsed, 3)
        self.log(f"  {name}: {elapsed:.1f} s")


def load_dataset(
    url: str,
    loans: int,
    lenders: list[LenderKey],
    inquiry_history: int,
    seed: int,
    log: Any = print,
) -> LoadResult:
    """Fill the (migrated, empty) database; see the module docstring."""
    result = LoadResult()
    steps = _Steps(result, log)
    lender_ids = [lender.id for lender in lenders]
    # Enough borrower numbers that their loans surely reach `loans`; the surplus is cut off.
    borrowers = int(loans / MEAN_LOANS_PER_BORROWER * 1.05) + 100
    started = time.perf_counter()
    with connect(url) as connection:
        connection.execute("SET synchronous_commit = off")
        connection.execute("SET maintenance_work_mem = '512MB'")
        connection.execute("SET work_mem = '256MB'")
        connection.execute("SELECT setseed(%s)", ((seed % 1000) / 1000,))
        with steps.step("generate loans (unlogged staging table)"):
            connection.execute(
                _GENERATE,
                {
                    "borrowers": borrowers,
                    "loans": loans,
                    "lender_ids": lender_ids,
                    "lenders": len(lender_ids),
                },
            )
            connection.commit()
        definitions = [_definitions(connection, table) for table in BULK_TABLES]
        with steps.step("drop keys and indexes"):
            for defs in definitions:
                _drop(connection, defs)
            connection.commit()
        with steps.step("insert submissions + loans"):
            connection.execute(_INSERT_SUBMISSIONS)
            connection.execute(_INSERT_LOANS)
            connection.commit()
        with steps.step("insert loan_refs"):
            connection.execute(_INSERT_LOAN_REFS)
            connection.commit()
        with steps.step("insert loan_history"):
            connection.execute(_INSERT_HISTORY)
            connection.commit()
        with steps.step("insert loan_months"):
            connection.execute(_INSERT_MONTHS)
            connection.commit()
        row = connection.execute("SELECT max(b), count(*) FROM bench_seed").fetchone()
        assert row is not None
        result.borrowers, result.loans = int(row[0]), int(row[1])
        if inquiry_history:
            with steps.step("insert inquiries"):
                connection.execute(
                    _INSERT_INQUIRIES,
                    {
                        "borrowers": result.borrowers,
                        "count": inquiry_history,
                        "lender_ids": lender_ids,
                        "lenders": len(lender_ids),
                    },
                )
                connection.commit()
        with steps.step("rebuild keys and indexes"):
            for defs in definitions:
                _rebuild_keys(connection, defs)
            for defs in definitions:
                _rebuild_foreign(connection, defs)
            connection.commit()
        rebuilt = [_definitions(connection, table) for table in BULK_TABLES]
        if rebuilt != definitions:
            raise RuntimeError(f"keys or indexes differ after the rebuild: {rebuilt}")
        _describe(connection, result)
        connection.execute("DROP TABLE bench_seed")
        connection.commit()
    with connect(url, autocommit=True) as connection, steps.step("VACUUM ANALYZE"):
        # VACUUM too: autovacuum would otherwise start on the fresh tables mid-benchmark.
        for table in (*BULK_TABLES, "submissions", "lenders", "api_keys", "policy_rules"):
            connection.execute(f"VACUUM (ANALYZE) {table}")
    result.seconds = round(time.perf_counter() - started, 3)
    with connect(url, autocommit=True) as connection:
        connection.execute("CHECKPOINT")  # so no checkpoint of the load runs mid-benchmark
        result.inquiries = _count(connection, "inquiries")
        for table in (*BULK_TABLES, "submissions"):
            size = connection.execute(
                "SELECT pg_total_relation_size(%s::regclass)", (table,)
            ).fetchone()
            result.table_mb[table] = round(int(size[0]) / 2**20, 1) if size else 0.0
    return result


def _count(connection: psycopg.Connection[Any], table: str) -> int:
    row = connection.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(row[0]) if row else 0


def _describe(connection: psycopg.Connection[Any], result: LoadResult) -> None:
    rows = connection.execute(
        "SELECT k, count(*) FROM (SELECT count(*) AS k FROM bench_seed GROUP BY b) s "
        "GROUP BY k ORDER BY k"
    ).fetchall()
    result.loans_by_borrower_count = {int(k): int(n) for k, n in rows}
    rows = connection.execute(
        "SELECT status, count(*) FROM bench_seed GROUP BY status ORDER BY status"
    ).fetchall()
    result.status_counts = {str(s): int(n) for s, n in rows}
    row = connection.execute(
        "SELECT b FROM bench_seed GROUP BY b ORDER BY count(*) DESC, b LIMIT 1"
    ).fetchone()
    result.sample_multi_borrower = int(row[0]) if row else 1
    row = connection.execute(
        "SELECT b FROM bench_seed GROUP BY b HAVING count(*) = 1 ORDER BY b DESC LIMIT 1"
    ).fetchone()
    result.sample_single_borrower = int(row[0]) if row else 1


def count_upload(url: str, lender_id: int, ref_prefix: str) -> int:
    """Loans the lender holds whose loan_ref starts with `ref_prefix` (the uploaded ones)."""
    with connect(url) as connection:
        row = connection.execute(
            "SELECT count(*) FROM loans WHERE lender_id = %s AND loan_ref LIKE %s",
            (lender_id, ref_prefix + "%"),
        ).fetchone()
    return int(row[0]) if row else 0


def postgres_pids(url: str) -> list[int]:
    """The server processes working for this database: its backends (but this one) and the
    background processes (WAL writer, checkpointer, ...); not other databases' backends."""
    with connect(url) as connection:
        rows = connection.execute(
            "SELECT pid FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
            "AND (datname = current_database() OR backend_type <> 'client backend')"
        ).fetchall()
    return [int(row[0]) for row in rows]
