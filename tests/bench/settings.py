"""The benchmark's knobs, read once from the environment (every one has a default)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

LOOPBACK = "127.0.0.1"


class BenchConfigError(ValueError):
    """A knob has a value the harness refuses."""


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)  # accepts 1_000_000
    except ValueError:
        raise BenchConfigError(f"{name} must be an integer, not {raw!r}") from None
    if not low <= value <= high:
        raise BenchConfigError(f"{name} must be between {low:,} and {high:,}, not {value:,}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise BenchConfigError(f"{name} must be a number, not {raw!r}") from None
    if not low <= value <= high:
        raise BenchConfigError(f"{name} must be between {low} and {high}, not {value}")
    return value


def _workers(env: Mapping[str, str]) -> tuple[int, ...]:
    raw = env.get("BENCH_WORKERS", "").strip() or "2,4"
    try:
        counts = tuple(int(part) for part in raw.split(",") if part.strip())
    except ValueError:
        raise BenchConfigError(f"BENCH_WORKERS must be like '2,4', not {raw!r}") from None
    if not counts or len(counts) > 4 or any(not 1 <= n <= 16 for n in counts):
        raise BenchConfigError("BENCH_WORKERS: one to four worker counts, each 1 to 16")
    return counts


def _pg_url(env: Mapping[str, str]) -> str:
    url = env.get("BENCH_PG_URL", "").strip() or f"postgresql://postgres@{LOOPBACK}:5432"
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres") or parts.hostname != LOOPBACK:
        raise BenchConfigError(
            f"BENCH_PG_URL must be a postgresql:// URL on {LOOPBACK} (the benchmark creates "
            f"and drops a database there), not {url!r}"
        )
    if parts.path not in ("", "/"):
        raise BenchConfigError("BENCH_PG_URL names the server only, without a database")
    return url.rstrip("/")


@dataclass(frozen=True)
class BenchSettings:
    loans: int  # rows loaded into `loans` (and `loan_refs`, `loan_history`)
    lenders: int
    inquiry_history: int  # inquiries loaded before the run, so the window query has work
    inquiries: int  # measured requests per worker setting
    warmup: int  # requests before measuring, per worker setting
    concurrency: int  # client threads
    workers: tuple[int, ...]  # gunicorn worker counts to measure
    unknown_share: float  # share of inquiries about tokens the registry has never seen
    upload: int  # records in the uploaded CSV
    upload_batch: int  # lender-client --batch-size
    seed: int
    pg_url: str  # server URL without a database
    phase_timeout: float  # seconds: a bound on each measured phase
    request_timeout: float  # seconds: a bound on each HTTP request
    wrk_seconds: float = 5.0  # each wrk run of the targets' sections
    wrk_rounds: int = 3  # alternating /healthz and inquiry runs (target 1)
    sqlite_loans: int = 1_000_000  # loans in the SQLite file of target 5 (0: skip it)
    sections: tuple[str, ...] = ()  # only these sections (names in run.SECTIONS); (): all

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> BenchSettings:
        env = os.environ if environ is None else environ
        return cls(
            loans=_int(env, "BENCH_LOANS", 1_000_000, 1_000, 50_000_000),
            lenders=_int(env, "BENCH_LENDERS", 20, 6, 500),
            inquiry_history=_int(env, "BENCH_INQUIRY_HISTORY", 100_000, 0, 10_000_000),
            inquiries=_int(env, "BENCH_INQUIRIES", 5_000, 100, 1_000_000),
            warmup=_int(env, "BENCH_WARMUP", 500, 0, 100_000),
            concurrency=_int(env, "BENCH_CONCURRENCY", 8, 1, 64),
            workers=_workers(env),
            unknown_share=_float(env, "BENCH_UNKNOWN_SHARE", 0.2, 0.0, 1.0),
            upload=_int(env, "BENCH_UPLOAD", 100_000, 0, 5_000_000),
            upload_batch=_int(env, "BENCH_UPLOAD_BATCH", 1_000, 1, 5_000),
            seed=_int(env, "BENCH_SEED", 42, 0, 2**31 - 1),
            pg_url=_pg_url(env),
            phase_timeout=_float(env, "BENCH_PHASE_TIMEOUT", 300.0, 10.0, 3_600.0),
            request_timeout=_float(env, "BENCH_REQUEST_TIMEOUT", 30.0, 1.0, 300.0),
            wrk_seconds=_float(env, "BENCH_WRK_SECONDS", 5.0, 1.0, 600.0),
            wrk_rounds=_int(env, "BENCH_WRK_ROUNDS", 3, 1, 50),
            sqlite_loans=_int(env, "BENCH_SQLITE_LOANS", 1_000_000, 0, 20_000_000),
            sections=tuple(
                name.strip() for name in env.get("BENCH_SECTIONS", "").split(",") if name.strip()
            ),
        )
