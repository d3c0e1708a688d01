"""`make bench-console`: how long the server takes to answer each operator-console page, on
the benchmark's data set (a million loans, 100,000 earlier inquiries) in a throwaway
PostgreSQL database.

The database is built as `make bench` builds it (tests/bench/database.py, migrated to head),
plus an audit log of BENCH_AUDIT_EVENTS rows; an admin operator logs in through the login
form, and each page is requested through the Flask test client: 3 warm-ups, then 20 timed
requests (the whole app, body included, no network). The target is a p95 under 300 ms.
For every page the statements it sends are recorded once, and the slowest SELECT of a page
over the target is run again under EXPLAIN ANALYZE (bench-output/console-explain.txt).

Knobs (environment): BENCH_LOANS, BENCH_LENDERS, BENCH_INQUIRY_HISTORY, BENCH_SEED,
BENCH_PG_URL (as `make bench`), BENCH_AUDIT_EVENTS (100,000), BENCH_CONSOLE_REQUESTS (20).
Results: a Markdown table, and bench-output/console.json.
"""

from __future__ import annotations

import gc
import json
import os
import re
import secrets
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlencode

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event

from registry import create_app
from tests.bench import database
from tests.bench.database import LenderKey, LoadResult
from tests.bench.loadgen import percentile
from tests.bench.settings import BenchConfigError, BenchSettings, _int
from tests.bench.tokens import borrower_token

OUTPUT = Path(__file__).resolve().parents[2] / "bench-output"
TARGET_MS = 300.0
WARMUPS = 3
OPERATOR = "bench-admin"
_CSRF_INPUT = re.compile(r"<input\b[^>]*\bname=\"csrf_token\"[^>]*>", re.IGNORECASE)
_VALUE = re.compile(r"\bvalue=\"([^\"]*)\"")

# The audit log: operator actions over the last 90 days (the page shows the newest first).
_INSERT_AUDIT = """
INSERT INTO audit_events (occurred_at, actor, action, target, details, ip, request_id)
SELECT now() - make_interval(secs => random() * 90 * 86400),
       'operator:op' || (1 + floor(random() * 8))::int,
       (ARRAY['login', 'login_failed', 'lender_created', 'key_issued', 'key_revoked',
              'lender_suspended', 'policy_changed', 'borrower_viewed']
       )[1 + floor(random() * 8)::int],
       'lender:bench' || lpad((1 + floor(random() * 20))::int::text, 3, '0'),
       '{}'::json, '127.0.0.1', md5(i::text)
FROM generate_series(1, %(count)s::bigint) AS i
"""


def log(message: str) -> None:
    print(message, flush=True)


def _terminate(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


@dataclass(frozen=True)
class Page:
    name: str
    path: str
    # A streamed download: its "server time" is the time to the first chunk (what the
    # operator waits for); the whole transfer is reported beside it.
    download: bool = False
    # A page that comes from a form (a borrower look-up states its reason): POSTed with these
    # fields (the session's CSRF token among them).
    form: dict[str, str] | None = None


def fetch(client: FlaskClient, page: Page, *, buffered: bool = True) -> Any:
    """One request for the page: a GET, or the form's POST."""
    if page.form is None:
        return client.get(page.path, buffered=buffered)
    return client.post(page.path, data=page.form, buffered=buffered)


@dataclass
class Statement:
    sql: str
    parameters: Any
    ms: float


@dataclass
class PageResult:
    name: str
    path: str
    status: int = 0
    content_type: str = ""
    bytes: int = 0
    requests: int = 0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    max_ms: float = 0.0
    mean_ms: float = 0.0
    statements: int = 0  # SQL statements one request sends
    sql_ms: float = 0.0  # their total time, in one request
    slowest_sql: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""
    download_p50_ms: float | None = None  # downloads: the whole body, first byte to last

    @property
    def over_target(self) -> bool:
        return self.p95_ms > TARGET_MS


class StatementLog:
    """Every statement the app's engine sends while `capture()` is open, with its time."""

    def __init__(self, app: Flask) -> None:
        self.recording: list[Statement] | None = None
        engine = app.extensions["registry"].engine
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn: Any, _cursor: Any, _sql: str, _params: Any, *_rest: Any) -> None:
        conn.info.setdefault("bench_started", []).append(time.perf_counter())

    def _after(self, conn: Any, _cursor: Any, sql: str, params: Any, *_rest: Any) -> None:
        started = conn.info["bench_started"].pop()
        if self.recording is not None:
            self.recording.append(Statement(sql, params, (time.perf_counter() - started) * 1000))

    @contextmanager
    def capture(self) -> Iterator[list[Statement]]:
        self.recording = []
        try:
            yield self.recording
        finally:
            self.recording = None


def csrf_token(html: str) -> str:
    tag = _CSRF_INPUT.search(html)
    value = _VALUE.search(tag.group(0)) if tag else None
    if value is None:
        raise RuntimeError("no csrf_token input on the login page")
    return value.group(1)


def log_in(client: FlaskClient, password: str) -> None:
    page = client.get("/console/login")
    if page.status_code != 200:
        raise RuntimeError(f"GET /console/login answered {page.status_code}")
    answer = client.post(
        "/console/login",
        data={
            "username": OPERATOR,
            "password": password,
            "csrf_token": csrf_token(page.get_data(as_text=True)),
        },
    )
    location = answer.headers.get("Location", "")
    if answer.status_code not in (302, 303) or not location.rstrip("/").endswith("/console"):
        raise RuntimeError(f"login failed: {answer.status_code} {location or answer.text[:300]}")


def add_audit_events(url: str, count: int) -> None:
    with database.connect(url) as connection:
        connection.execute(_INSERT_AUDIT, {"count": count})
        connection.commit()
    with database.connect(url, autocommit=True) as connection:
        connection.execute("VACUUM (ANALYZE) audit_events")


def pages(url: str, lenders: list[LenderKey], load: LoadResult, csrf: str) -> list[Page]:
    """The pages to time, with the ids the data set gives them."""
    lender = lenders[0].code
    over_indebted = borrower_token(load.sample_multi_borrower).hex()
    today = datetime.now(UTC).date()
    week = {"since": (today - timedelta(days=7)).isoformat(), "until": today.isoformat()}
    month = {"since": (today - timedelta(days=30)).isoformat(), "until": today.isoformat()}
    filtered = urlencode({"lender": lender, "purpose": "new_credit", **week})
    return [
        Page("dashboard", "/console/"),
        Page("lenders", "/console/lenders"),
        Page("lender", f"/console/lenders/{lender}"),
        Page("inquiries", "/console/inquiries"),
        Page("inquiries, filtered", f"/console/inquiries?{filtered}"),
        Page("inquiries CSV, lender+7d", f"/console/inquiries.csv?{filtered}", download=True),
        Page("inquiries CSV, all 30d", f"/console/inquiries.csv?{urlencode(month)}", True),
        Page("borrower search", "/console/borrowers"),
        Page(
            "borrower (6 loans)",
            "/console/borrowers",
            form={"token": over_indebted, "reason": "console benchmark", "csrf_token": csrf},
        ),
        Page("policy", "/console/policy"),
        Page("audit log", "/console/audit"),
        Page("operators", "/console/operators"),
        Page("account", "/console/account"),
    ]


def measure(
    client: FlaskClient, statements: StatementLog, page: Page, count: int
) -> tuple[PageResult, list[Statement]]:
    """The page's timings, and the statements of its first request, slowest first."""
    result = PageResult(page.name, page.path)
    with statements.capture() as sent:
        first = fetch(client, page)
        body = first.get_data()
        first.close()
    result.status, result.bytes = first.status_code, len(body)
    result.content_type = first.headers.get("Content-Type", "")
    result.statements = len(sent)
    result.sql_ms = round(sum(s.ms for s in sent), 2)
    slowest = sorted(sent, key=lambda s: s.ms, reverse=True)
    result.slowest_sql = [
        {"ms": round(s.ms, 2), "sql": s.sql, "parameters": repr(s.parameters)} for s in slowest[:3]
    ]
    if first.status_code != 200:
        result.error = f"HTTP {first.status_code}: {body[:300]!r}"
        return result, slowest
    for _ in range(WARMUPS - 1):
        response = fetch(client, page)
        response.get_data()
        response.close()
    timings, whole = [], []
    for _ in range(count):
        started = time.perf_counter()
        response = fetch(client, page, buffered=not page.download)
        if page.download:
            chunks = iter(response.response)
            next(chunk for chunk in chunks if chunk)  # the first bytes the browser gets
            timings.append((time.perf_counter() - started) * 1000)
            for _chunk in chunks:
                pass
            whole.append((time.perf_counter() - started) * 1000)
        else:
            response.get_data()
            timings.append((time.perf_counter() - started) * 1000)
        response.close()
        if response.status_code != 200:
            result.error = f"HTTP {response.status_code} on a timed request"
    if whole:
        result.download_p50_ms = round(percentile(sorted(whole), 50), 1)
    timings.sort()
    result.requests = len(timings)
    result.p50_ms = round(percentile(timings, 50), 1)
    result.p95_ms = round(percentile(timings, 95), 1)
    result.max_ms = round(timings[-1], 1)
    result.mean_ms = round(sum(timings) / len(timings), 1)
    return result, slowest


def explain_slowest(url: str, name: str, slowest: list[Statement], top: int = 2) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of a page's slowest SELECTs, sent again as the app sent
    them (same SQL, same parameters), each after one run to warm the cache."""
    selects = [s for s in slowest if s.sql.lstrip().upper().startswith(("SELECT", "WITH"))]
    parts = []
    with database.connect(url) as connection:
        for statement in selects[:top]:
            connection.execute(statement.sql, statement.parameters).fetchall()
            rows = connection.execute(
                f"EXPLAIN (ANALYZE, BUFFERS) {statement.sql}", statement.parameters
            ).fetchall()
            connection.rollback()
            plan = "\n".join(str(row[0]) for row in rows)
            parts.append(
                f"-- {name}: {statement.ms:.1f} ms in the app\n{statement.sql}\n"
                f"-- parameters: {statement.parameters!r}\n{plan}\n"
            )
    return "\n".join(parts) or f"-- {name}: no SELECT among its statements\n"


def markdown(results: list[PageResult], load: LoadResult, audit_events: int) -> str:
    lines = [
        f"Console pages, {load.loans:,} loans, {load.inquiries:,} inquiries, "
        f"{audit_events:,} audit events (Flask test client; {results[0].requests or 20} "
        f"requests after {WARMUPS} warm-ups; target p95 < {TARGET_MS:.0f} ms)",
        "",
        "| page | status | p50 ms | p95 ms | max ms | SQL statements | SQL ms | |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in results:
        verdict = r.error or ("OVER TARGET" if r.over_target else "ok")
        if r.download_p50_ms is not None:
            verdict += f" (first byte; whole {r.bytes:,} bytes: p50 {r.download_p50_ms} ms)"
        lines.append(
            f"| {r.name} | {r.status} | {r.p50_ms} | {r.p95_ms} | {r.max_ms} | "
            f"{r.statements} | {r.sql_ms} | {verdict} |"
        )
    return "\n".join(lines)


def run(settings: BenchSettings, audit_events: int, count: int) -> dict[str, Any]:
    from tests.console.browser import create_operator

    out: dict[str, Any] = {"target_ms": TARGET_MS, "warmups": WARMUPS, "requests": count}
    name = database.create_database(settings.pg_url)
    url = database.database_url(settings.pg_url, name)
    log(f"Created database {name}")
    try:
        database.migrate(url)
        lenders = database.create_lenders(url, settings.lenders)
        log(f"Loading {settings.loans:,} loans and {settings.inquiry_history:,} inquiries ...")
        load = database.load_dataset(
            url, settings.loans, lenders, settings.inquiry_history, settings.seed, log=log
        )
        out["load"] = asdict(load)
        if audit_events:
            add_audit_events(url, audit_events)
        out["audit_events"] = audit_events
        password = f"Bench-{secrets.token_urlsafe(16)}"
        create_operator(url, OPERATOR, password, role="admin")
        app = create_app({"database_url": url, "env": "development", "log_level": "WARNING"})
        statements = StatementLog(app)
        client = app.test_client()
        log_in(client, password)
        form = client.get("/console/borrowers")
        csrf = csrf_token(form.get_data(as_text=True))
        form.close()
        results = []
        sent: dict[str, list[Statement]] = {}
        for page in pages(url, lenders, load, csrf):
            result, sent[page.name] = measure(client, statements, page, count)
            results.append(result)
            gc.collect()  # a streamed response (the CSV) may hold a connection until then
            log(
                f"  {page.name:<24} {result.status} p50 {result.p50_ms:>7} ms  p95 "
                f"{result.p95_ms:>7} ms  max {result.max_ms:>7} ms  ({result.statements} "
                f"statements, {result.sql_ms} ms SQL) {result.error}"
            )
        app.extensions["registry"].engine.dispose()
        slow = [r for r in results if r.over_target]
        explain = [explain_slowest(url, r.name, sent[r.name]) for r in slow]
        OUTPUT.mkdir(exist_ok=True)
        (OUTPUT / "console-explain.txt").write_text("\n".join(explain) or "(no page over target)\n")
        out["pages"] = [{**asdict(r), "over_target": r.over_target} for r in results]
        out["table"] = markdown(results, load, audit_events)
        out["problems"] = [f"{r.name}: {r.error}" for r in results if r.error] + [
            f"{r.name}: p95 {r.p95_ms} ms is over {TARGET_MS:.0f} ms" for r in slow
        ]
    finally:
        try:
            database.drop_database(settings.pg_url, name)
            log(f"Dropped database {name}")
        except Exception as exc:  # report, but don't hide the original failure
            log(f"WARNING: could not drop database {name}: {exc}")
    return out


def main() -> int:
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    try:
        settings = BenchSettings.from_env()
        audit_events = _int(os.environ, "BENCH_AUDIT_EVENTS", 100_000, 0, 10_000_000)
        count = _int(os.environ, "BENCH_CONSOLE_REQUESTS", 20, 1, 10_000)
    except BenchConfigError as exc:
        print(f"bench-console: {exc}", file=sys.stderr)
        return 2
    try:
        out = run(settings, audit_events, count)
    except KeyboardInterrupt:
        print("bench-console: interrupted; database dropped", file=sys.stderr)
        return 130
    OUTPUT.mkdir(exist_ok=True)
    (OUTPUT / "console.json").write_text(json.dumps(out, indent=2, default=str) + "\n")
    log("\n" + out["table"])
    log(f"\nWritten {OUTPUT / 'console.json'}")
    for problem in out["problems"]:
        log(f"PROBLEM: {problem}")
    return 1 if out["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
