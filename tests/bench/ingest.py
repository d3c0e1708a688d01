"""Issue 15, target 3: ingest through HTTP, and the naive per-record ORM baseline.

`lender-client upload` of a CSV of new loans (1,000,000 by default) to the real server
(gunicorn, PostgreSQL, this machine), then, in the same run, the same kind of batches stored
record by record through the ORM (`tests.bench.naive`, in process) on a sample of the file.
Target: at least 25,000 records a second, and at least 4 times the naive baseline.

    python -m tests.bench.ingest              # its own database and server; see IngestSettings
    ingest.measure(settings) -> list[Result]  # the same, from Python
    ingest.run(context) -> SectionResult      # a section of `make bench` (the loaded book)
"""

from __future__ import annotations

import itertools
import json
import os
import random
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tests.bench import database, upload
from tests.bench.database import LenderKey
from tests.bench.naive import ingest_one_by_one
from tests.bench.section import BenchContext, SectionResult, TargetFigure
from tests.bench.server import Gunicorn, cpu_snapshot, cpu_use, machine_busy_share
from tests.bench.settings import BenchSettings

NAME = "Ingest: lender-client upload against the naive per-record ORM (target 3)"

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "bench-output"
TARGET_PER_SECOND = 25_000.0
TARGET_RATIO = 4.0


@dataclass(frozen=True)
class Result:
    """One figure of a bench section, with its target and whether it was met."""

    name: str
    value: float
    unit: str
    target: str = ""
    met: bool | None = None  # None: no target
    detail: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        verdict = "" if self.met is None else (" MET" if self.met else " MISSED")
        goal = f" (target {self.target}){verdict}" if self.target else ""
        return f"| {self.name} | {self.value:,.1f} {self.unit}{goal} |"


@dataclass(frozen=True)
class IngestSettings:
    records: int = 1_000_000  # BENCH_INGEST_RECORDS: rows in the uploaded CSV
    batch_size: int = 5_000  # BENCH_INGEST_BATCH: lender-client --batch-size
    parallel: int = 2  # BENCH_INGEST_PARALLEL: lender-client --parallel
    naive_records: int = 20_000  # BENCH_INGEST_NAIVE: the baseline's sample of the file
    workers: int = 2  # BENCH_INGEST_WORKERS: gunicorn workers
    seed: int = 42
    pg_url: str = "postgresql://postgres@127.0.0.1:5432"
    timeout: float = 1_800.0  # BENCH_INGEST_TIMEOUT: seconds for the upload

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> IngestSettings:
        env = os.environ if environ is None else environ
        base = BenchSettings.from_env(env)  # BENCH_PG_URL and BENCH_SEED, checked there

        def number(name: str, default: int) -> int:
            raw = env.get(name, "").strip()
            return int(raw) if raw else default

        return cls(
            records=number("BENCH_INGEST_RECORDS", cls.records),
            batch_size=number("BENCH_INGEST_BATCH", cls.batch_size),
            parallel=number("BENCH_INGEST_PARALLEL", cls.parallel),
            naive_records=number("BENCH_INGEST_NAIVE", cls.naive_records),
            workers=number("BENCH_INGEST_WORKERS", cls.workers),
            seed=base.seed,
            pg_url=base.pg_url,
            timeout=float(number("BENCH_INGEST_TIMEOUT", int(cls.timeout))),
        )


def measure(settings: IngestSettings, log: Any = print) -> list[Result]:
    """Create a throwaway database and server, measure, drop them; the figures."""
    name = database.create_database(settings.pg_url)
    url = database.database_url(settings.pg_url, name)
    try:
        database.migrate(url)
        fast_lender, naive_lender = database.create_lenders(url, 2)
        with tempfile.TemporaryDirectory(prefix="registry-ingest-") as tmp:
            workdir = Path(tmp)
            with Gunicorn(
                url, settings.workers, OUTPUT / "gunicorn-ingest.log", workdir / "prom"
            ) as server:
                fast, naive = _measure_on(
                    server, url, fast_lender, naive_lender, settings, workdir, "I", log
                )
    finally:
        database.drop_database(settings.pg_url, name)
    return _results(fast, naive, settings)


def run(context: BenchContext) -> SectionResult:
    """The section of `make bench`: into the loaded book, as two of its lenders."""
    settings = IngestSettings.from_env()
    fast_lender, naive_lender = context.lenders[-1], context.lenders[-2]
    prefix = f"I{secrets.token_hex(3)}"
    with context.server(settings.workers) as server:
        fast, naive = _measure_on(
            server, context.database_url, fast_lender, naive_lender, settings,
            context.workdir, prefix, context.log,
        )  # fmt: skip
    results = _results(fast, naive, settings)
    data = f"into a book of {context.load.loans:,} loans"
    load = (
        f"client, {settings.workers} gunicorn workers and PostgreSQL on this machine; "
        f"busy {fast['machine_busy_before']:.0%} before"
    )
    figures = [
        TargetFigure(
            "3. ingest",
            f"**{results[0].value:,.0f} records/s** ({settings.records:,} new loans, batch "
            f"{settings.batch_size:,}, --parallel {settings.parallel})",
            f">= {TARGET_PER_SECOND:,.0f} /s",
            results[0].met,
            data,
            load,
        ),
        TargetFigure(
            "3. ingest / naive per-record ORM",
            f"**{results[2].value:,.1f} x** (naive {results[1].value:,.0f} records/s on "
            f"{naive['records']:,} of the same records)",
            f">= {TARGET_RATIO:.0f} x",
            results[2].met,
            data,
            load,
        ),
    ]
    problems = [] if fast["all_accepted"] else [f"ingest: not all accepted: {fast['counts']}"]
    return SectionResult(figures, {"fast": fast, "naive": naive}, problems)


def _measure_on(
    server: Gunicorn,
    url: str,
    fast_lender: LenderKey,
    naive_lender: LenderKey,
    settings: IngestSettings,
    workdir: Path,
    prefix: str,
    log: Any,
) -> tuple[dict[str, Any], dict[str, Any]]:
    path = workdir / "ingest.csv"
    started = time.perf_counter()
    upload.write_csv(path, settings.records, prefix, 1, random.Random(settings.seed), 0.0)
    log(f"  wrote {settings.records:,} records in {time.perf_counter() - started:.1f} s")
    fast = _upload(server, url, fast_lender.key, path, settings, log)
    naive = _naive(url, naive_lender.id, path, settings, prefix, log)
    path.unlink()
    return fast, naive


def _upload(
    server: Gunicorn,
    url: str,
    key: str,
    path: Path,
    settings: IngestSettings,
    log: Any,
) -> dict[str, Any]:
    busy = machine_busy_share(2.0)
    env = {**os.environ, "REGISTRY_URL": server.url, "REGISTRY_API_KEY": key}
    env.pop("REGISTRY_VERBOSE", None)
    command = [
        str(upload.CLI), "upload", str(path), "--no-progress", "--no-checkpoint",
        "--batch-size", str(settings.batch_size),
    ]  # fmt: skip
    if settings.parallel > 1:  # (1: also runs the SDK of commits before --parallel, for A/B)
        command += ["--parallel", str(settings.parallel)]
    before = cpu_snapshot(server.pids(), database.postgres_pids(url))
    started = time.perf_counter()
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=settings.timeout,
        check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    cpu = cpu_use(before, cpu_snapshot(server.pids(), database.postgres_pids(url)))
    counts = upload.parse_summary(done.stdout)
    rate = settings.records / seconds
    log(
        f"  lender-client upload --parallel {settings.parallel}: {settings.records:,} in "
        f"{seconds:.1f} s = {rate:,.0f} records/s; exit {done.returncode}; {counts}"
    )
    thousands = settings.records / 1000
    return {
        "seconds": round(seconds, 2),
        "per_second": round(rate, 1),
        "exit_code": done.returncode,
        "counts": counts,
        "all_accepted": counts.get("Accepted") == settings.records,
        "machine_busy_before": busy,
        "cpu_ms_per_1000": {
            "server": round(cpu.server / thousands * 1000, 1),
            "postgres": round(cpu.postgres / thousands * 1000, 1),
            "client": round(cpu.client / thousands * 1000, 1),
        },
        "output_tail": (done.stdout + done.stderr)[-1500:],
    }


def _wire_records(path: Path, limit: int) -> list[dict[str, Any]]:
    from lender_client.files import SourceRecord, open_records
    from lender_client.loans import to_record

    with open_records(str(path)) as reader:
        rows: Iterator[Any] = (r for r in reader if isinstance(r, SourceRecord))
        return [to_record(r.data) for r in itertools.islice(rows, limit)]


def _naive(
    url: str, lender_id: int, path: Path, settings: IngestSettings, prefix: str, log: Any
) -> dict[str, Any]:
    """The same file's first records, in the same batch size, stored one by one."""
    records = _wire_records(path, settings.naive_records)
    size = settings.batch_size
    batches = [records[i : i + size] for i in range(0, len(records), size)]
    seconds = ingest_one_by_one(url, lender_id, batches)
    stored = database.count_upload(url, lender_id, f"{prefix}-")
    rate = len(records) / seconds
    log(f"  naive per-record ORM: {len(records):,} in {seconds:.1f} s = {rate:,.0f} records/s")
    return {
        "records": len(records),
        "seconds": round(seconds, 2),
        "per_second": round(rate, 1),
        "stored": stored,
    }


def _results(fast: dict[str, Any], naive: dict[str, Any], settings: IngestSettings) -> list[Result]:
    rate, baseline = fast["per_second"], naive["per_second"]
    ratio = rate / baseline if baseline else 0.0
    ok = fast["exit_code"] == 0 and fast["all_accepted"]
    return [
        Result(
            f"ingest, {settings.records:,} new loans, lender-client upload --batch-size "
            f"{settings.batch_size} --parallel {settings.parallel}",
            rate,
            "records/s",
            f">= {TARGET_PER_SECOND:,.0f}",
            ok and rate >= TARGET_PER_SECOND,
            fast,
        ),
        Result(
            f"naive per-record ORM (tests/bench/naive.py), {naive['records']:,} records",
            baseline,
            "records/s",
            detail=naive,
        ),
        Result(
            "ingest / naive baseline",
            ratio,
            "x",
            f">= {TARGET_RATIO:.0f} x",
            ok and ratio >= TARGET_RATIO,
        ),
    ]


def main() -> int:
    settings = IngestSettings.from_env()
    results = measure(settings)
    OUTPUT.mkdir(exist_ok=True)
    (OUTPUT / "ingest.json").write_text(json.dumps([asdict(r) for r in results], indent=2))
    print("| figure | value |\n|---|---|")
    for result in results:
        print(result.line())
    return 0 if all(r.met is not False for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
