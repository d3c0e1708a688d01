"""Target 5 of issue 15: inquiries on the SQLite default.

A SQLite file of its own (in the bench's temporary folder) migrated as `registry` does, the
bench's lenders, and `BENCH_SQLITE_LOANS` loans (1,000,000 by default; most borrowers owe one
lender, a few up to six, 70 % open, some past due or written off) written with sqlite3 in
token order. The registry runs under gunicorn as the README starts it, on that file; `wrk`
asks inquiries from one connection (p99 goal 5 ms), then from 16 (p99 goal 50 ms).
"""

from __future__ import annotations

import random
import sqlite3
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.bench import database, wrk
from tests.bench.inquiry_ratio import plan_tokens
from tests.bench.section import BenchContext, SectionResult, TargetFigure
from tests.bench.server import Gunicorn
from tests.bench.tokens import borrower_token

NAME = "Inquiries on SQLite (wrk)"
GOAL_ONE_CLIENT_P99_MS = 5.0
GOAL_16_P99_MS = 50.0
PRODUCTS = ("cash_loan", "installment", "credit_line", "bnpl", "auto", "mortgage", "other")
LOANS_PER_BORROWER = ((0.80, 1), (0.90, 2), (0.95, 3), (0.98, 4), (0.995, 5), (1.0, 6))
_SUBMISSION = "00000000-0000-4000-8000-000000000001"
_COLUMNS = (
    "borrower, lender_id, loan_ref, as_of, first_reported_at, last_reported_at, "
    "last_submission_id, product, currency, principal, outstanding, opened_on, due_on, status, "
    "days_past_due, credit_limit, scheduled_payment, payment_frequency, amount_past_due, "
    "closed_on, special_event, written_off_amount, written_off_on"
)


def _stamp(moment: datetime) -> str:  # as SQLAlchemy stores a DateTime in SQLite
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def _loan(
    rng: random.Random, borrower: bytes, lender_id: int, number: int, today: date
) -> tuple[Any, ...]:
    opened = today - timedelta(days=rng.randint(1, 5 * 365))
    principal = int(10 ** rng.uniform(5, 8))
    draw = rng.random()
    status = "open" if draw < 0.70 else "closed" if draw < 0.95 else "written_off"
    dpd = 0
    if status == "open":
        dpd_draw = rng.random()
        dpd = (
            0
            if dpd_draw < 0.85
            else rng.randint(1, 30)
            if dpd_draw < 0.95
            else rng.randint(31, 180)
        )
    elif status == "written_off":
        dpd = rng.randint(90, 720)
    outstanding = 0 if status == "closed" else max(1, int(principal * rng.uniform(0.05, 1.0)))
    closed = None if status == "open" else opened + timedelta(days=rng.randint(30, 700))
    if closed is not None and closed > today:
        closed = today
    as_of = datetime.now(UTC) - timedelta(days=rng.randint(0, 30))
    product = rng.choice(PRODUCTS)
    line = product == "credit_line"
    return (
        borrower, lender_id, f"L{number:09d}", _stamp(as_of), _stamp(as_of), _stamp(as_of),
        _SUBMISSION, product, "CNY", principal, outstanding, opened.isoformat(),
        None if line else (opened + timedelta(days=365)).isoformat(), status, dpd,
        principal if line else 0, None if line else principal // 12,
        None if line else "monthly", outstanding * min(dpd, 180) // 180 if dpd else 0,
        closed.isoformat() if closed else None, None,
        outstanding if status == "written_off" else None,
        closed.isoformat() if status == "written_off" and closed else None,
    )  # fmt: skip


def load_loans(path: Path, loans: int, lender_ids: list[int], seed: int) -> int:
    """Write `loans` loans into the migrated file at `path`; returns the borrowers' count."""
    rng = random.Random(seed)
    today = date.today()
    rows: list[tuple[Any, ...]] = []
    borrower = 0
    while len(rows) < loans:
        borrower += 1
        draw = rng.random()
        count = next(k for bound, k in LOANS_PER_BORROWER if draw < bound)
        token = borrower_token(borrower)
        for lender_id in rng.sample(lender_ids, min(count, len(lender_ids))):
            rows.append(_loan(rng, token, lender_id, len(rows), today))
    rows = rows[:loans]
    rows.sort(key=lambda row: (row[0], row[1], row[2]))  # the primary key's order
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=OFF")
        with connection:
            marks = ", ".join("?" * len(_COLUMNS.split(",")))
            connection.executemany(f"INSERT INTO loans ({_COLUMNS}) VALUES ({marks})", rows)
        connection.execute("ANALYZE")
    finally:
        connection.close()
    return borrower


def run(context: BenchContext) -> SectionResult:
    settings, log = context.settings, context.log
    result = SectionResult()
    if not settings.sqlite_loans:
        return result
    if not wrk.available():
        result.problems.append("wrk is not installed (apt-get install -y wrk): target 5 skipped")
        return result
    path = context.workdir / "sqlite" / "registry.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{path}"
    database.migrate(url)
    lenders = database.create_lenders(url, settings.lenders)
    started = time.perf_counter()
    ids = [lender.id for lender in lenders]
    borrowers = load_loans(path, settings.sqlite_loans, ids, settings.seed)
    loaded = time.perf_counter() - started
    size = path.stat().st_size / 2**20
    log(f"  {settings.sqlite_loans:,} loans of {borrowers:,} borrowers in {loaded:.0f} s")
    tokens = plan_tokens(borrowers, settings.unknown_share, settings.seed + 5, 50_000)
    keys = [lender.key for lender in lenders]
    plan_env = wrk.write_plan(context.workdir / "wrk-sqlite", tokens, keys)
    seconds = settings.wrk_seconds
    with Gunicorn(
        url, 0, context.output / "gunicorn-sqlite.log", context.workdir / "prom-sqlite"
    ) as server:
        log(f"  registry on SQLite at {server.url}, {server.workers} workers")
        wrk.run(server.url, "inquiry", 3, plan_env, connections=2)  # warm-up
        one = wrk.run(server.url, "inquiry", seconds * 2, plan_env, connections=1, threads=1)
        log(f"  1 connection:   {one.line()}")
        many = wrk.run(server.url, "inquiry", seconds * 2, plan_env)
        log(f"  16 connections: {many.line()}")
    data = f"{settings.sqlite_loans:,} loans of {borrowers:,} borrowers, SQLite ({size:.0f} MiB)"
    result.figures += [
        TargetFigure(
            "5. SQLite inquiry p99, one client",
            f"p99 **{one.p99_ms:.2f} ms** (p50 {one.p50_ms:.2f} ms, {one.per_second:,.0f} /s)",
            f"< {GOAL_ONE_CLIENT_P99_MS:.0f} ms",
            one.p99_ms < GOAL_ONE_CLIENT_P99_MS,
            data,
            "wrk 1 thread, 1 connection; gunicorn default workers",
        ),
        TargetFigure(
            "5. SQLite inquiry p99, 16 connections",
            f"p99 **{many.p99_ms:.1f} ms** (p50 {many.p50_ms:.1f} ms, {many.per_second:,.0f} /s)",
            f"< {GOAL_16_P99_MS:.0f} ms",
            many.p99_ms < GOAL_16_P99_MS,
            data,
            f"wrk {wrk.THREADS} threads, {wrk.CONNECTIONS} connections; gunicorn default workers",
        ),
    ]
    if one.errors or many.errors:
        result.problems.append(f"target 5: {one.errors + many.errors} wrk errors or non-2xx")
    result.details = {
        "loans": settings.sqlite_loans,
        "borrowers": borrowers,
        "load_seconds": round(loaded, 1),
        "file_mib": round(size, 1),
        "one_connection": one.summary(),
        "sixteen_connections": many.summary(),
    }
    return result
