"""Flat with size (issue 15, target 2): inquiry latency at 100 thousand, 1 million and 10
million loans, each book built by `registry bench-data` (as many earlier inquiries as loans)
in its own throwaway database, then measured over HTTP against gunicorn.

    .venv/bin/python -m tests.bench.scale          # make bench-scale
    .venv/bin/python -m tests.bench.scale --replot # the figure again, from scale.json

Knobs (environment): BENCH_SCALE_SIZES (loans, comma-separated; default
100000,1000000,10000000), BENCH_SCALE_INQUIRIES (measured per size, 3000),
BENCH_SCALE_WARMUP (500), BENCH_SCALE_CONCURRENCY (client threads, 2), BENCH_SCALE_WORKERS
(gunicorn workers, 2), BENCH_SCALE_PLOT (the figure; default docs/benchmarks/
latency_vs_size.png), BENCH_PG_URL, BENCH_SEED. Prints each size's p50 and p99, the build
time, and p99 at the largest size over p99 at the smallest (target <= 1.5); writes
bench-output/scale.json and bench-output/scale-explain.txt (EXPLAIN ANALYZE of the
inquiry's statements at each size). Every database is dropped, even after a failure.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.bench import database, loadgen, sqlprobe
from tests.bench.database import LenderKey
from tests.bench.report import machine_info
from tests.bench.server import BIN, Gunicorn, machine_busy_share
from tests.bench.tokens import borrower_token, unknown_token

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "bench-output"
TARGET_RATIO = 1.5
PHASE_TIMEOUT = 600.0
REQUEST_TIMEOUT = 30.0


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, str(default)).replace("_", ""))


def log(message: str) -> None:
    print(message, flush=True)


def build(url: str, loans: int, seed: int, keys_file: Path) -> tuple[float, dict[str, Any]]:
    """`registry bench-data` as an operator runs it; its wall time and its JSON summary."""
    started = time.perf_counter()
    subprocess.run(
        [str(BIN / "registry"), "bench-data", "--loans", str(loans), "--seed", str(seed),
         "--keys-file", str(keys_file)],
        env={**os.environ, "REGISTRY_DATABASE_URL": url, "REGISTRY_ENV": "development"},
        check=True,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    return seconds, json.loads(keys_file.read_text(encoding="utf-8"))


def _sample_tokens(url: str, borrowers: int) -> dict[str, bytes]:
    """The most-indebted borrower (10-30 loans), a one-loan borrower, and an unknown token."""
    with database.connect(url) as connection:
        row = connection.execute(
            "SELECT borrower FROM loans GROUP BY borrower ORDER BY count(*) DESC LIMIT 1"
        ).fetchone()
    multi = bytes(row[0]) if row else borrower_token(1)
    return {"multi": multi, "single": borrower_token(borrowers), "unknown": unknown_token("x", 1)}


def measure(pg_url: str, loans: int, seed: int, workdir: Path) -> dict[str, Any]:
    name = database.create_database(pg_url)
    url = database.database_url(pg_url, name)
    try:
        database.migrate(url)
        log(f"\n== {loans:,} loans: registry bench-data")
        build_seconds, built = build(url, loans, seed, workdir / f"keys-{loans}.json")
        lenders = [LenderKey(int(d["id"]), str(d["code"]), str(d["key"])) for d in built["lenders"]]
        borrowers = int(built["borrowers"])
        rng = random.Random(seed)
        concurrency = _env_int("BENCH_SCALE_CONCURRENCY", 2)
        workers = _env_int("BENCH_SCALE_WORKERS", 2)
        with Gunicorn(url, workers, OUTPUT / f"scale-{loans}.log", workdir / "metrics") as server:
            warm = loadgen.plan_inquiries(
                _env_int("BENCH_SCALE_WARMUP", 500), borrowers, lenders, 0.2, rng, "warm"
            )
            loadgen.run_inquiries(server.url, warm, concurrency, PHASE_TIMEOUT, REQUEST_TIMEOUT)
            busy = machine_busy_share(2.0)
            plan = loadgen.plan_inquiries(
                _env_int("BENCH_SCALE_INQUIRIES", 3000), borrowers, lenders, 0.2, rng, "run"
            )
            result = loadgen.run_inquiries(
                server.url, plan, concurrency, PHASE_TIMEOUT, REQUEST_TIMEOUT
            )
        summary = result.summary()
        plans = sqlprobe.explain(url, lenders[0], _sample_tokens(url, borrowers))
        with database.connect(url) as connection:
            row = connection.execute("SELECT pg_database_size(current_database())").fetchone()
        lat = summary["latency_ms"]
        log(
            f"  {loans:,} loans: built in {build_seconds:.0f} s; {summary['requests']:,} "
            f"inquiries, p50 {lat['p50']} ms, p99 {lat['p99']} ms, errors {summary['errors']}"
        )
        return {
            "loans": loans,
            "inquiries_in_history": built["inquiries"],
            "borrowers": borrowers,
            "history_rows": built["history"],
            "month_rows": built["months"],
            "build_seconds": round(build_seconds, 1),
            "build_steps": built["steps"],
            "database_gb": round(int(row[0]) / 2**30, 2) if row else 0.0,
            "machine_busy_before": busy,
            "concurrency": concurrency,
            "workers": workers,
            "result": summary,
            "explain": [plan.summary() for plan in plans],
        }
    finally:
        database.drop_database(pg_url, name)  # 10 million loans take gigabytes: never kept


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Left: the client's p50 and p99 over HTTP. Right: the database's own time for the
    inquiry's statements (EXPLAIN ANALYZE, warm), by kind of token: what grows with size if
    a query is not flat, without the machine's noise."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [row["loans"] for row in rows]
    figure, (http, sql) = plt.subplots(1, 2, figsize=(10.0, 4.0), dpi=110)
    for key, style in (("p50", "o-"), ("p99", "s-")):
        http.plot(sizes, [row["result"]["latency_ms"][key] for row in rows], style, label=key)
    http.set_ylabel("POST /v1/inquiries, client latency, ms")
    http.set_title("Inquiry over HTTP (gunicorn, 2 workers)")
    for kind, style in (("multi", "o-"), ("single", "s-"), ("unknown", "^-")):
        sql.plot(sizes, [_statement_ms(row, kind) for row in rows], style, label=f"{kind} token")
    sql.set_ylabel("the inquiry's statements, execution ms")
    sql.set_title("In PostgreSQL (EXPLAIN ANALYZE, summed)")
    for axes in (http, sql):
        axes.set_xscale("log")
        axes.set_ylim(bottom=0)
        axes.set_xlabel("loans (and as many earlier inquiries)")
        axes.grid(True, which="both", alpha=0.3)
        axes.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)


def _statement_ms(row: dict[str, Any], kind: str) -> float:
    # auth and policy are explained once (with the first token); the rest per token.
    return float(
        sum(
            plan["execution_ms"]
            for plan in row["explain"]
            if plan["token"] == kind or plan["statement"] in ("auth", "policy")
        )
    )


def main() -> int:
    pg_url = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432")
    if "@127.0.0.1:" not in pg_url:
        log("BENCH_PG_URL must point at 127.0.0.1")
        return 2
    plot_path = Path(
        os.environ.get("BENCH_SCALE_PLOT", ROOT / "docs/benchmarks/latency_vs_size.png")
    )
    if sys.argv[1:] == ["--replot"]:  # the figure again from bench-output/scale.json
        plot(json.loads((OUTPUT / "scale.json").read_text())["sizes"], plot_path)
        return 0
    sizes = [
        int(s.replace("_", ""))
        for s in os.environ.get("BENCH_SCALE_SIZES", "100000,1000000,10000000").split(",")
    ]
    seed = _env_int("BENCH_SEED", 42)
    OUTPUT.mkdir(exist_ok=True)
    workdir = OUTPUT / "scale-work"
    workdir.mkdir(exist_ok=True)
    rows = [measure(pg_url, loans, seed, workdir) for loans in sizes]
    smallest, largest = rows[0], rows[-1]
    ratio = largest["result"]["latency_ms"]["p99"] / max(
        smallest["result"]["latency_ms"]["p99"], 1e-9
    )
    document = {"machine": machine_info(pg_url, ROOT), "sizes": rows, "p99_ratio": round(ratio, 3)}
    (OUTPUT / "scale.json").write_text(json.dumps(document, indent=1, default=str))
    (OUTPUT / "scale-explain.txt").write_text(
        "\n\n".join(
            f"-- {row['loans']:,} loans: {plan['statement']} ({plan['token']})\n{plan['plan']}"
            for row in rows
            for plan in row["explain"]
        )
    )
    plot(
        rows, Path(os.environ.get("BENCH_SCALE_PLOT", ROOT / "docs/benchmarks/latency_vs_size.png"))
    )
    log("\n| loans | inquiries in history | build s | p50 ms | p99 ms | errors |")
    log("|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        lat = row["result"]["latency_ms"]
        log(
            f"| {row['loans']:,} | {row['inquiries_in_history']:,} | {row['build_seconds']} | "
            f"{lat['p50']} | {lat['p99']} | {row['result']['errors']} |"
        )
    verdict = "met" if ratio <= TARGET_RATIO else "MISSED"
    log(
        f"\np99 at {largest['loans']:,} / p99 at {smallest['loans']:,} loans = {ratio:.2f} "
        f"(target <= {TARGET_RATIO}: {verdict})"
    )
    errors = sum(row["result"]["errors"] for row in rows)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
