"""Target 1 of issue 15: inquiry throughput against `/healthz` of the same server.

One gunicorn of the registry as the README starts it (`-c python:registry.gunicorn_config`,
its default workers), `wrk` (2 threads, 16 connections, tests/bench/inquiry.lua) alternating
`/healthz` and `POST /v1/inquiries` runs (the lenders' API keys in turn; tokens of loaded
borrowers and a share never seen), `BENCH_WRK_ROUNDS` rounds of `BENCH_WRK_SECONDS` each after
a warm-up. The ratio is total inquiries over total health checks of the same rounds; p99 is the
worst round's. Then a bare Flask `/healthz` under the same settings, to show what the
registry's middleware costs.
"""

from __future__ import annotations

import random
from typing import Any

from tests.bench import wrk
from tests.bench.section import BenchContext, SectionResult, TargetFigure
from tests.bench.server import HARNESS_ROOT, Gunicorn
from tests.bench.tokens import borrower_token, unknown_token

NAME = "Inquiries against /healthz (wrk)"
GOAL_RATIO = 0.70
GOAL_P99_MS = 20.0
PLAN_TOKENS = 50_000
WARMUP_SECONDS = 3.0


def plan_tokens(borrowers: int, unknown_share: float, seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    return [
        unknown_token("wrk", n).hex()
        if rng.random() < unknown_share
        else borrower_token(rng.randint(1, borrowers)).hex()
        for n in range(count)
    ]


def alternate(
    url: str, rounds: int, seconds: float, plan_env: dict[str, str], log: Any
) -> tuple[list[wrk.WrkRun], list[wrk.WrkRun]]:
    wrk.run(url, "healthz", WARMUP_SECONDS)
    wrk.run(url, "inquiry", WARMUP_SECONDS, plan_env)
    health, inquiry = [], []
    for n in range(1, rounds + 1):
        health.append(wrk.run(url, "healthz", seconds))
        log(f"  round {n}: {health[-1].line()}")
        inquiry.append(wrk.run(url, "inquiry", seconds, plan_env))
        log(f"  round {n}: {inquiry[-1].line()}")
    return health, inquiry


def _rate(runs: list[wrk.WrkRun]) -> float:
    seconds = sum(run.seconds for run in runs)
    return sum(run.requests for run in runs) / seconds if seconds else 0.0


def run(context: BenchContext) -> SectionResult:
    settings, log = context.settings, context.log
    result = SectionResult()
    if not wrk.available():
        result.problems.append("wrk is not installed (apt-get install -y wrk): target 1 skipped")
        return result
    keys = [lender.key for lender in context.lenders]
    tokens = plan_tokens(context.load.borrowers, settings.unknown_share, settings.seed, PLAN_TOKENS)
    plan_env = wrk.write_plan(context.workdir / "wrk", tokens, keys)
    rounds, seconds = settings.wrk_rounds, settings.wrk_seconds
    with context.server(0) as server:  # 0: the configuration's own worker count
        log(f"  registry at {server.url}, {server.workers} workers")
        health, inquiry = alternate(server.url, rounds, seconds, plan_env, log)
    with Gunicorn(
        "", 0, context.output / "gunicorn-bare.log", context.workdir / "prom-bare",
        app="tests.bench.bare_app:app",
        root=HARNESS_ROOT,
    ) as bare_server:  # fmt: skip
        bare = wrk.run(bare_server.url, "healthz", seconds * 2)
        log(f"  bare Flask: {bare.line()}")
    ratio = _rate(inquiry) / _rate(health) if _rate(health) else 0.0
    p99 = max(run.p99_ms for run in inquiry)
    errors = sum(run.errors for run in inquiry + health)
    health_vs_bare = _rate(health) / bare.per_second if bare.per_second else 0.0
    data = (
        f"{context.load.loans:,} loans of {context.load.borrowers:,} borrowers, PostgreSQL; "
        f"{len(keys)} lenders, {len(tokens):,} tokens ({settings.unknown_share:.0%} unknown)"
    )
    load = (
        f"wrk {wrk.THREADS} threads, {wrk.CONNECTIONS} connections, {rounds} x {seconds:.0f} s "
        "alternating; gunicorn default workers"
    )
    result.figures.append(
        TargetFigure(
            "1. inquiries / healthz",
            f"{_rate(inquiry):,.0f} /s vs {_rate(health):,.0f} /s = **{ratio:.2f}**",
            f">= {GOAL_RATIO:.2f}",
            ratio >= GOAL_RATIO,
            data,
            load,
        )
    )
    result.figures.append(
        TargetFigure(
            "1. inquiry p99 at 16 connections",
            f"p99 **{p99:.1f} ms** (p50 {max(r.p50_ms for r in inquiry):.1f} ms)",
            f"< {GOAL_P99_MS:.0f} ms",
            p99 < GOAL_P99_MS,
            data,
            load,
        )
    )
    result.figures.append(
        TargetFigure(
            "1. /healthz vs bare Flask",
            f"{_rate(health):,.0f} /s vs {bare.per_second:,.0f} /s = **{health_vs_bare:.2f}**",
            "(shown: the middleware's cost)",
            None if not bare.requests else True,
            "no data",
            f"wrk {wrk.THREADS} threads, {wrk.CONNECTIONS} connections; same gunicorn settings",
        )
    )
    if errors:
        result.problems.append(f"target 1: {errors} wrk errors or non-2xx answers")
    result.details = {
        "healthz": [run.summary() for run in health],
        "inquiry": [run.summary() for run in inquiry],
        "bare_flask_healthz": bare.summary(),
        "ratio": round(ratio, 3),
        "healthz_vs_bare": round(health_vs_bare, 3),
    }
    return result
