"""`make bench`: load a million loans into a throwaway PostgreSQL database, then measure the
real server (gunicorn) over HTTP: inquiries from concurrent clients, and a 100,000-loan
upload by `lender-client` (new, then the same again). See docs/benchmarks.md.

Knobs (environment): BENCH_LOANS, BENCH_LENDERS, BENCH_INQUIRY_HISTORY, BENCH_INQUIRIES,
BENCH_WARMUP, BENCH_CONCURRENCY, BENCH_WORKERS, BENCH_UNKNOWN_SHARE, BENCH_UPLOAD,
BENCH_UPLOAD_BATCH, BENCH_SEED, BENCH_PG_URL, BENCH_PHASE_TIMEOUT, BENCH_REQUEST_TIMEOUT,
BENCH_WRK_SECONDS, BENCH_WRK_ROUNDS, BENCH_SQLITE_LOANS, BENCH_SECTIONS (e.g. "ratio,sqlite";
"classic" is the Python load generator's phases; all by default).
Results: printed as Markdown, and written to bench-output/results.json.
"""

from __future__ import annotations

import json
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from types import FrameType
from typing import Any

from tests.bench import (
    database,
    ingest,
    inquiry_ratio,
    loadgen,
    mixed,
    sqlite_inquiries,
    sqlprobe,
    upload,
)
from tests.bench.database import LenderKey, LoadResult
from tests.bench.report import machine_info, markdown
from tests.bench.section import BenchContext, Section, SectionResult
from tests.bench.server import Gunicorn, cpu_snapshot, cpu_use, machine_busy_share
from tests.bench.settings import BenchConfigError, BenchSettings

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "bench-output"
UPLOAD_ATTEMPTS = 3  # of `lender-client upload`, before falling back to the SDK
UPLOAD_RETRY_PAUSE = 15.0
SQL_FLOOR_INQUIRIES = 2_000
QUIET_CHECK_SECONDS = 2.0  # the machine's load is sampled this long before each phase
QUIET_THRESHOLD = 0.15
INQUIRIES_ROUTE = "/v1/inquiries"
CLASSIC = "classic"  # the Python load generator's inquiries, the upload, the SQL probe
# The sections after the classic phases, by the name BENCH_SECTIONS gives them: one module
# each (tests/bench/section.py says what a section gets and returns). Add yours here.
SECTIONS: dict[str, Section] = {
    "ratio": inquiry_ratio,  # target 1: inquiries against /healthz, wrk
    "sqlite": sqlite_inquiries,  # target 5: the SQLite default
    "ingest": ingest,  # target 3: lender-client upload against the naive ORM baseline
    "mixed": mixed,  # target 4: inquiries and uploads at once
}
LOANS_ROUTE = "/v1/loans"


def log(message: str) -> None:
    print(message, flush=True)


def _terminate(signum: int, _frame: FrameType | None) -> None:
    # Turn SIGTERM/SIGHUP into an exception, so every `finally` (server, database) runs.
    raise SystemExit(128 + signum)


def _metric(text: str, name: str, route: str) -> float:
    """Sum of the samples of `name` for POST `route` in a Prometheus text page."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and f'route="{route}"' in line and 'method="POST"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


class Measured:
    """CPU by party and the app's own request timing (Prometheus) around one phase."""

    def __init__(self, server: Gunicorn, route: str) -> None:
        self.server, self.route = server, route

    def __enter__(self) -> Measured:
        self.busy_before = machine_busy_share(QUIET_CHECK_SECONDS)
        if self.busy_before > QUIET_THRESHOLD:
            log(
                f"  WARNING: the machine is {self.busy_before:.0%} busy before the phase "
                "(other work running?): the figures will be lower than they should"
            )
        self._metrics = self.server.metrics_text()
        self._pids = self.server.pids()
        self._pg_pids = database.postgres_pids(self.server.database_url)
        self._cpu = cpu_snapshot(self._pids, self._pg_pids)
        return self

    def __exit__(self, *exc: object) -> None:
        pg_pids = sorted(set(self._pg_pids) | set(database.postgres_pids(self.server.database_url)))
        after = cpu_snapshot(self._pids, pg_pids)
        self.cpu = cpu_use(self._cpu, after)
        metrics = self.server.metrics_text()
        total = "registry_http_request_duration_seconds_sum"
        count = "registry_http_request_duration_seconds_count"
        self.app_seconds = _metric(metrics, total, self.route) - _metric(
            self._metrics, total, self.route
        )
        self.app_requests = int(
            _metric(metrics, count, self.route) - _metric(self._metrics, count, self.route)
        )

    @property
    def app_mean_ms(self) -> float:
        return round(self.app_seconds / self.app_requests * 1000, 3) if self.app_requests else 0.0


def inquiry_phase(
    server: Gunicorn,
    settings: BenchSettings,
    lenders: list[LenderKey],
    load: LoadResult,
    rng: random.Random,
) -> dict[str, Any]:
    label = f"w{server.workers}-{secrets.token_hex(3)}"
    if settings.warmup:
        warm = loadgen.plan_inquiries(
            settings.warmup, load.borrowers, lenders, settings.unknown_share, rng, label + "-warm"
        )
        result = loadgen.run_inquiries(
            server.url, warm, settings.concurrency, settings.phase_timeout,
            settings.request_timeout,
        )  # fmt: skip
        log(f"  warm-up: {result.requests:,} requests, {result.errors} errors")
    plan = loadgen.plan_inquiries(
        settings.inquiries, load.borrowers, lenders, settings.unknown_share, rng, label
    )
    with Measured(server, INQUIRIES_ROUTE) as measured:
        result = loadgen.run_inquiries(
            server.url, plan, settings.concurrency, settings.phase_timeout,
            settings.request_timeout,
        )  # fmt: skip
    cpu = measured.cpu
    summary = result.summary()
    lat = summary["latency_ms"]
    log(
        f"  {summary['requests']:,} inquiries in {summary['seconds']:.1f} s: "
        f"{summary['throughput_per_s']:,.0f}/s; p50 {lat['p50']} ms, p90 {lat['p90']} ms, "
        f"p99 {lat['p99']} ms, max {lat['max']} ms; errors {summary['errors']}"
    )
    if result.errors:
        log(f"  ERRORS: {result.error_samples}")
    return {
        "workers": server.workers,
        "concurrency": settings.concurrency,
        "unknown_share": settings.unknown_share,
        "result": summary,
        "cpu": asdict(cpu),
        "cpu_ms_per_inquiry": cpu.per_request_ms(result.requests),
        "machine_busy_before": measured.busy_before,
        "server_requests_seen": measured.app_requests,
        "server_mean_ms": measured.app_mean_ms,
    }


def _upload_ok(run: upload.UploadRun, expected: int, field: str) -> bool:
    return run.exit_code in (0, None) and run.counts.get(field) == expected


def _cli_upload(
    path: Path, settings: BenchSettings, server: Gunicorn, key: str
) -> upload.UploadRun:
    try:
        return upload.run_cli(
            path, settings.upload, server.url, key, settings.upload_batch, settings.phase_timeout
        )
    except subprocess.TimeoutExpired:
        return upload.UploadRun(
            settings.upload, settings.phase_timeout, "lender-client upload", -1, {}, "timed out"
        )


def _measured_upload(
    server: Gunicorn, send: Callable[[], upload.UploadRun]
) -> tuple[upload.UploadRun, dict[str, Any]]:
    with Measured(server, LOANS_ROUTE) as measured:
        run = send()
    thousands = max(run.records, 1) / 1000
    cpu = measured.cpu
    return run, {
        **run.summary(),
        "cpu": asdict(cpu),
        "cpu_s_per_1000_loans": {
            "server": round(cpu.server / thousands, 4),
            "postgres": round(cpu.postgres / thousands, 4),
            "client": round(cpu.client / thousands, 4),
        },
        "batches_seen_by_server": measured.app_requests,
        "machine_busy_before": measured.busy_before,
        "server_mean_ms_per_batch": measured.app_mean_ms,
    }


def upload_phase(
    server: Gunicorn,
    settings: BenchSettings,
    url: str,
    lender: LenderKey,
    load: LoadResult,
    rng: random.Random,
    workdir: Path,
) -> dict[str, Any]:
    path = workdir / "upload.csv"
    notes: list[str] = []
    first: upload.UploadRun | None = None
    first_out: dict[str, Any] = {}
    prefix = ""
    for attempt in range(1, UPLOAD_ATTEMPTS + 1):
        # A fresh set of loan refs each attempt, so that "all accepted" is still expected.
        prefix = f"U{secrets.token_hex(3)}"
        started = time.perf_counter()
        upload.write_csv(path, settings.upload, prefix, load.borrowers, rng)
        log(
            f"  wrote {settings.upload:,} records ({path.stat().st_size / 2**20:.1f} MiB) in "
            f"{time.perf_counter() - started:.1f} s"
        )
        first, first_out = _measured_upload(
            server, lambda: _cli_upload(path, settings, server, lender.key)
        )
        if _upload_ok(first, settings.upload, "Accepted"):
            break
        notes.append(
            f"attempt {attempt}: lender-client upload exit {first.exit_code}, counts "
            f"{first.counts}; output: {first.output[-800:]}"
        )
        log(f"  lender-client upload did not do it (attempt {attempt}): {notes[-1]}")
        if attempt < UPLOAD_ATTEMPTS:
            time.sleep(UPLOAD_RETRY_PAUSE)
    assert first is not None
    use_sdk = not _upload_ok(first, settings.upload, "Accepted")
    if use_sdk:
        prefix = f"U{secrets.token_hex(3)}"
        upload.write_csv(path, settings.upload, prefix, load.borrowers, rng)
        first, first_out = _measured_upload(
            server,
            lambda: upload.run_sdk(
                path, settings.upload, server.url, lender.key, settings.upload_batch
            ),
        )
        notes.append("fell back to the SDK's RegistryClient.report_loans")
    log(
        f"  upload: {first.records:,} in {first.seconds:.1f} s = {first.per_second:,.0f} "
        f"loans/s ({first.method}); {first.counts}"
    )
    if use_sdk:
        rerun, rerun_out = _measured_upload(
            server,
            lambda: upload.run_sdk(
                path, settings.upload, server.url, lender.key, settings.upload_batch
            ),
        )
    else:
        rerun, rerun_out = _measured_upload(
            server, lambda: _cli_upload(path, settings, server, lender.key)
        )
    log(
        f"  re-run: {rerun.records:,} in {rerun.seconds:.1f} s = {rerun.per_second:,.0f} "
        f"loans/s; {rerun.counts}"
    )
    stored = database.count_upload(url, lender.id, prefix + "-")
    checks = {
        "first_all_accepted": _upload_ok(first, settings.upload, "Accepted"),
        "rerun_all_unchanged": _upload_ok(rerun, settings.upload, "Unchanged"),
        "loans_stored": stored,
        "loans_stored_ok": stored == settings.upload,
    }
    log(f"  checks: {checks}")
    (OUTPUT / "upload-output.txt").write_text(
        f"--- first ---\n{first.output}\n--- re-run ---\n{rerun.output}\n"
    )
    return {
        "workers": server.workers,
        "batch_size": settings.upload_batch,
        "first": first_out,
        "rerun": rerun_out,
        "checks": checks,
        "notes": notes,
    }


def probe_sql(
    url: str, lenders: list[LenderKey], load: LoadResult, settings: BenchSettings,
    rng: random.Random,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:  # fmt: skip
    from tests.bench.tokens import borrower_token, unknown_token

    with database.connect(url) as connection:
        row = connection.execute(
            "SELECT borrower FROM inquiries GROUP BY borrower ORDER BY count(*) DESC LIMIT 1"
        ).fetchone()
    busiest = bytes(row[0]) if row else borrower_token(1)
    tokens = {
        f"{max(load.loans_by_borrower_count)}-loan": borrower_token(load.sample_multi_borrower),
        "1-loan": borrower_token(load.sample_single_borrower),
        "most-inquired": busiest,
        "unknown": unknown_token("explain", 0),
    }
    plans = sqlprobe.explain(url, lenders[0], tokens)
    for plan in plans:
        log(
            f"  EXPLAIN {plan.name:<15} {plan.token_kind:<14} execution {plan.execution_ms:.3f} "
            f"ms, planning {plan.planning_ms:.3f} ms"
        )
    (OUTPUT / "explain.txt").write_text(
        "\n\n".join(f"-- {p.name} ({p.token_kind} token)\n{p.text}" for p in plans) + "\n"
    )
    floor = sqlprobe.sql_floor(
        url, lenders, load.borrowers, SQL_FLOOR_INQUIRIES, settings.unknown_share, rng
    )
    log(f"  SQL only: {floor.summary()}")
    return [plan.summary() for plan in plans], floor.summary()


def classic_phases(
    settings: BenchSettings,
    url: str,
    lenders: list[LenderKey],
    load: LoadResult,
    rng: random.Random,
    workdir: Path,
    results: dict[str, Any],
) -> None:
    """Inquiries from the Python load generator at each worker count, then the upload."""
    for index, workers in enumerate(settings.workers):
        log(f"Server: gunicorn, {workers} workers")
        with Gunicorn(
            url, workers, OUTPUT / f"gunicorn-{workers}w.log", workdir / f"prom-{workers}"
        ) as server:
            log(f"  ready at {server.url}")
            results["inquiries"].append(inquiry_phase(server, settings, lenders, load, rng))
            if index == len(settings.workers) - 1 and settings.upload:
                log(f"Upload of {settings.upload:,} loans with lender-client")
                results["upload"] = upload_phase(
                    server, settings, url, lenders[0], load, rng, workdir
                )


def wanted(settings: BenchSettings, name: str) -> bool:
    return not settings.sections or name in settings.sections


def run_sections(context: BenchContext) -> dict[str, Any]:
    """Each section of SECTIONS that BENCH_SECTIONS asks for (all by default), in turn; one
    that fails is reported as a problem and the next one runs."""
    out: dict[str, Any] = {}
    for name, section in SECTIONS.items():
        if not wanted(context.settings, name):
            continue
        log(f"Section {name}: {section.NAME}")
        started = time.perf_counter()
        try:
            result = section.run(context)
        except Exception as exc:  # one broken section must not hide the others' figures
            result = SectionResult(problems=[f"section {name} failed: {exc!r}"])
            log(f"  FAILED: {exc!r}")
        out[name] = {**result.to_json(), "seconds": round(time.perf_counter() - started, 1)}
    return out


def run(settings: BenchSettings) -> dict[str, Any]:
    wall = time.perf_counter()
    OUTPUT.mkdir(exist_ok=True)
    rng = random.Random(settings.seed)
    results: dict[str, Any] = {
        "settings": {k: v for k, v in asdict(settings).items() if k != "pg_url"},
        "machine": machine_info(settings.pg_url, ROOT),
        "notes": [
            "The load generator runs on the same machine as gunicorn and PostgreSQL and "
            "shares their cores; its CPU use is reported beside theirs."
        ],
    }
    m = results["machine"]
    log(f"Machine: {m['cpu_model']}, {m['cores']} cores, {m['ram_gib']} GiB; {m['postgresql']}")
    name = database.create_database(settings.pg_url)
    url = database.database_url(settings.pg_url, name)
    results["database"] = name
    log(f"Database {name}")
    try:
        started = time.perf_counter()
        database.migrate(url)
        lenders = database.create_lenders(url, settings.lenders)
        results["setup_seconds"] = round(time.perf_counter() - started, 3)
        log(f"Migrated and created {len(lenders)} lenders in {results['setup_seconds']:.1f} s")
        log(f"Loading {settings.loans:,} loans ...")
        load = database.load_dataset(
            url, settings.loans, lenders, settings.inquiry_history, settings.seed, log=log
        )
        results["load"] = asdict(load)
        log(
            f"Loaded {load.loans:,} loans of {load.borrowers:,} borrowers and "
            f"{load.inquiries:,} inquiries in {load.seconds:.1f} s "
            f"({load.loans / load.seconds:,.0f} loans/s); sizes MiB {load.table_mb}"
        )
        results["inquiries"] = []
        with tempfile.TemporaryDirectory(prefix="registry-bench-") as tmp:
            workdir = Path(tmp)
            if wanted(settings, CLASSIC):
                classic_phases(settings, url, lenders, load, rng, workdir, results)
            context = BenchContext(
                settings=settings,
                database_url=url,
                lenders=lenders,
                load=load,
                workdir=workdir,
                output=OUTPUT,
                log=log,
                server=lambda workers: Gunicorn(
                    url,
                    workers,
                    OUTPUT / f"gunicorn-{workers or 'default'}w-section.log",
                    workdir / f"prom-section-{secrets.token_hex(3)}",
                ),
            )
            results["sections"] = run_sections(context)
        if wanted(settings, CLASSIC):
            log("Where the time goes (EXPLAIN ANALYZE, and the SQL alone)")
            results["explain"], results["sql_floor"] = probe_sql(url, lenders, load, settings, rng)
    finally:
        try:
            database.drop_database(settings.pg_url, name)
            log(f"Dropped database {name}")
        except Exception as exc:  # report, but don't hide the original failure
            log(f"WARNING: could not drop database {name}: {exc}")
    results["wall_seconds"] = round(time.perf_counter() - wall, 1)
    return results


def _errors(results: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    for section in results.get("sections", {}).values():
        problems += section["problems"]
    for phase in results.get("inquiries", []):
        if phase["result"]["errors"] or phase["result"]["timed_out"]:
            problems.append(f"inquiries with {phase['workers']} workers: errors or timeout")
    checks = results.get("upload", {}).get("checks", {})
    problems += [f"upload check failed: {k}" for k, v in checks.items() if v is False]
    return problems


def main() -> int:
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    try:
        settings = BenchSettings.from_env()
    except BenchConfigError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    try:
        results = run(settings)
    except KeyboardInterrupt:
        print("bench: interrupted; server stopped and database dropped", file=sys.stderr)
        return 130
    results["problems"] = _errors(results)
    OUTPUT.mkdir(exist_ok=True)
    (OUTPUT / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    table = markdown(results)
    (OUTPUT / "results.md").write_text(table + "\n")
    log("\n" + table)
    log(f"\nWritten {OUTPUT / 'results.json'}")
    for problem in results["problems"]:
        log(f"PROBLEM: {problem}")
    return 1 if results["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
