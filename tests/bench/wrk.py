"""`wrk` (2 threads, 16 connections by default) driven by tests/bench/inquiry.lua: the same
load generator for `/healthz` and for `POST /v1/inquiries`, in another process.

`wrk` is Debian's package (`apt-get install -y wrk`); without it the sections that need it say
so and are skipped.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).with_name("inquiry.lua")
THREADS = 2
CONNECTIONS = 16
_MARK = "BENCH_WRK_JSON "


def available() -> bool:
    return shutil.which("wrk") is not None


@dataclass(frozen=True)
class WrkRun:
    mode: str  # "healthz" or "inquiry"
    requests: int
    seconds: float
    errors: int  # connect, read, write, timeouts, and answers other than 2xx/3xx
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    connections: int

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def summary(self) -> dict[str, Any]:
        return {**asdict(self), "per_second": round(self.per_second, 1)}

    def line(self) -> str:
        return (
            f"{self.mode:<8} {self.per_second:8,.0f}/s  p50 {self.p50_ms:6.2f} ms  p99 "
            f"{self.p99_ms:6.2f} ms  max {self.max_ms:7.2f} ms  errors {self.errors}"
        )


def write_plan(folder: Path, tokens: list[str], keys: list[str]) -> dict[str, str]:
    """The files the Lua script reads in inquiry mode; returns its environment."""
    folder.mkdir(parents=True, exist_ok=True)
    tokens_file, keys_file = folder / "wrk-tokens.txt", folder / "wrk-keys.txt"
    tokens_file.write_text("\n".join(tokens) + "\n")
    keys_file.write_text("\n".join(keys) + "\n")
    return {"BENCH_WRK_TOKENS": str(tokens_file), "BENCH_WRK_KEYS": str(keys_file)}


def run(
    base_url: str,
    mode: str,
    seconds: float,
    plan_env: dict[str, str] | None = None,
    connections: int = CONNECTIONS,
    threads: int = THREADS,
) -> WrkRun:
    command = [
        "wrk",
        "-t", str(threads),
        "-c", str(connections),
        "-d", f"{max(1, round(seconds))}s",
        "--timeout", "10s",
        "-s", str(SCRIPT),
        base_url,
    ]  # fmt: skip
    env = {**os.environ, **(plan_env or {}), "BENCH_WRK_MODE": mode}
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    for line in done.stdout.splitlines():
        if line.startswith(_MARK):
            data = json.loads(line[len(_MARK) :])
            errors = sum(int(v) for v in data["errors"].values())
            lat = data["latency_us"]
            return WrkRun(
                mode=mode,
                requests=int(data["requests"]),
                seconds=int(data["duration_us"]) / 1e6,
                errors=errors,
                p50_ms=lat["p50"] / 1000,
                p90_ms=lat["p90"] / 1000,
                p99_ms=lat["p99"] / 1000,
                max_ms=lat["max"] / 1000,
                connections=connections,
            )
    raise RuntimeError(f"wrk printed no summary (exit {done.returncode}): {done.stderr[-500:]}")
