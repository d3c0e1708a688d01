"""The machine the figures come from, and the Markdown table they are printed as."""

from __future__ import annotations

import os
import platform
import re
import subprocess
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from tests.bench.database import connect, database_url
from tests.bench.section import targets_table


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return 0.0


def _package(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def _git(root: Path) -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
            timeout=10, check=True,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}{' (with uncommitted changes)' if dirty else ''}"


def machine_info(pg_url: str, root: Path) -> dict[str, Any]:
    with connect(database_url(pg_url, "postgres")) as connection:
        row = connection.execute("SELECT version()").fetchone()
        pg_version = str(row[0]) if row else "unknown"
        pg_settings = {}
        for name in ("shared_buffers", "work_mem", "synchronous_commit", "max_connections"):
            row = connection.execute(
                "SELECT setting, unit FROM pg_settings WHERE name = %s", (name,)
            ).fetchone()
            if row:
                pg_settings[name] = f"{row[0]}{' x ' + row[1] if row[1] else ''}"
    short = re.match(r"PostgreSQL [0-9.]+", pg_version)
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count() or 0,
        "usable_cores": len(os.sched_getaffinity(0)),
        "ram_gib": _ram_gib(),
        "kernel": f"{platform.system()} {platform.release()}",
        "postgresql": short.group(0) if short else pg_version,
        "postgresql_full": pg_version,
        "postgresql_settings": pg_settings,
        "python": platform.python_version(),
        "gunicorn": _package("gunicorn"),
        "sqlalchemy": _package("sqlalchemy"),
        "psycopg": _package("psycopg"),
        "flask": _package("flask"),
        "git": _git(root),
    }


def _n(value: float) -> str:
    return f"{value:,.0f}"


def markdown(results: dict[str, Any]) -> str:
    """The results as a Markdown table (plus the machine), as printed at the end of a run."""
    m = results["machine"]
    lines = [
        f"Machine: {m['cpu_model']}, {m['cores']} cores, {m['ram_gib']} GiB RAM; "
        f"{m['postgresql']}; Python {m['python']}; gunicorn {m['gunicorn']}; {m['date']}; "
        f"git {m['git']}",
        "",
        "| Benchmark | Setting | Result |",
        "|---|---|---|",
    ]
    load = results.get("load")
    if load:
        lines.append(
            f"| Bulk load (SQL) | {_n(load['loans'])} loans, {_n(load['borrowers'])} "
            f"borrowers, {_n(load['inquiries'])} earlier inquiries | "
            f"{load['seconds']:.1f} s ({_n(load['loans'] / load['seconds'])} loans/s) |"
        )
    for phase in results.get("inquiries", []):
        r = phase["result"]
        lat = r["latency_ms"]
        cpu = phase.get("cpu_ms_per_inquiry", {})
        lines.append(
            f"| Inquiries, {phase['workers']} workers | {phase['concurrency']} client threads, "
            f"{_n(r['requests'])} requests, {phase['unknown_share']:.0%} unknown tokens | "
            f"**{r['throughput_per_s']:,.0f} /s**; p50 {lat['p50']:.1f} ms, p90 {lat['p90']:.1f} "
            f"ms, p99 {lat['p99']:.1f} ms, max {lat['max']:.1f} ms; {r['errors']} errors |"
        )
        if cpu:
            lines.append(
                f"| CPU per inquiry, {phase['workers']} workers | server / PostgreSQL / "
                f"load generator | {cpu['server']:.2f} / {cpu['postgres']:.2f} / "
                f"{cpu['client']:.2f} ms (machine {phase['cpu']['machine_busy_share']:.0%} busy"
                f"); in-app time {phase.get('server_mean_ms', 0):.2f} ms mean |"
            )
    upload = results.get("upload")
    if upload:
        for key, label in (("first", "Upload, new loans"), ("rerun", "Upload, re-run")):
            run = upload.get(key)
            if not run:
                continue
            counts = run["counts"]
            lines.append(
                f"| {label} | {_n(run['records'])} records, batch {upload['batch_size']}, "
                f"{run['method']} | **{run['loans_per_s']:,.0f} loans/s** ({run['seconds']:.1f} "
                f"s); accepted {_n(counts.get('Accepted', -1))}, unchanged "
                f"{_n(counts.get('Unchanged', -1))}, rejected {_n(counts.get('Rejected', -1))} |"
            )
            cpu = run.get("cpu_s_per_1000_loans")
            if cpu:
                lines.append(
                    f"| CPU per 1,000 loans, {label.lower()} | server / PostgreSQL / client | "
                    f"{cpu['server'] * 1000:.0f} / {cpu['postgres'] * 1000:.0f} / "
                    f"{cpu['client'] * 1000:.0f} ms (machine {run['cpu']['machine_busy_share']:.0%}"
                    f" busy); in-app {run['server_mean_ms_per_batch']:.0f} ms per batch |"
                )
    floor = results.get("sql_floor")
    if floor:
        lines.append(
            f"| Inquiry SQL only (psycopg, 1 connection) | pre-ping, 5 statements, commit; "
            f"{_n(floor['inquiries'])} times | {floor['per_s']:,.0f} /s; mean "
            f"{floor['mean_ms']:.2f} ms, p99 {floor['p99_ms']:.2f} ms |"
        )
    slowest: dict[str, dict[str, Any]] = {}
    for plan in results.get("explain", []):
        seen = slowest.get(plan["statement"])
        if seen is None or plan["execution_ms"] > seen["execution_ms"]:
            slowest[plan["statement"]] = plan
    if slowest:
        lines.append(
            "| EXPLAIN ANALYZE, slowest token | execution (planning) per statement | "
            + "; ".join(
                f"{name} {p['execution_ms']:.3f} ({p['planning_ms']:.3f}) ms [{p['token']}]"
                for name, p in slowest.items()
            )
            + " |"
        )
    figures = [f for section in results.get("sections", {}).values() for f in section["figures"]]
    if figures:
        lines += ["", "Issue 15's targets (each a ratio or a latency measured in this run):", ""]
        lines += targets_table(figures)
    lines.append("")
    lines.append(f"Total wall time: {results.get('wall_seconds', 0):.0f} s")
    return "\n".join(lines)
