"""The inquiry load generator: a fixed plan of requests shared by a few client threads.

Each thread has its own `requests.Session` and takes the next request of the plan until the
plan is done or the phase's deadline passes, so the phase is bounded in count and in time.
Latency is measured on the client, from just before sending to the parsed response.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import requests

from tests.bench.database import LenderKey
from tests.bench.tokens import borrower_token, unknown_token


@dataclass(frozen=True)
class PlannedInquiry:
    borrower: str  # 64 hex
    known: bool  # the token has loans in the registry
    key: str  # the asking lender's API key


def plan_inquiries(
    count: int,
    borrowers: int,
    lenders: list[LenderKey],
    unknown_share: float,
    rng: random.Random,
    label: str,
) -> list[PlannedInquiry]:
    """`count` inquiries by random lenders about random loaded borrowers (numbers
    1..`borrowers`), a share `unknown_share` of them about tokens never seen."""
    plan = []
    for n in range(count):
        lender = rng.choice(lenders)
        if rng.random() < unknown_share:
            plan.append(PlannedInquiry(unknown_token(label, n).hex(), False, lender.key))
        else:
            token = borrower_token(rng.randint(1, borrowers))
            plan.append(PlannedInquiry(token.hex(), True, lender.key))
    return plan


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return 0.0
    rank = max(1, -(-len(sorted_values) * pct // 100))  # ceil without floats
    return sorted_values[int(rank) - 1]


@dataclass
class LoadResult:
    requests: int = 0  # completed (answered or failed)
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)  # seconds, every completed request
    statuses: Counter[str] = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)
    timed_out: bool = False  # the phase deadline cut the plan short
    flagged: int = 0  # reports carrying at least one flag
    with_loans: int = 0  # reports showing at least one open loan

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.latencies)
        ms = 1000.0
        return {
            "requests": self.requests,
            "errors": self.errors,
            "seconds": round(self.seconds, 3),
            "throughput_per_s": round(self.throughput, 1),
            "latency_ms": {
                "mean": round(sum(ordered) / len(ordered) * ms, 2) if ordered else 0.0,
                "p50": round(percentile(ordered, 50) * ms, 2),
                "p90": round(percentile(ordered, 90) * ms, 2),
                "p99": round(percentile(ordered, 99) * ms, 2),
                "max": round((ordered[-1] if ordered else 0.0) * ms, 2),
            },
            "statuses": dict(self.statuses),
            "error_samples": self.error_samples,
            "timed_out": self.timed_out,
            "reports_with_open_loans": self.with_loans,
            "reports_with_flags": self.flagged,
        }


class _Worker(threading.Thread):
    def __init__(self, runner: _Runner, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.runner = runner
        self.latencies: list[float] = []
        self.statuses: Counter[str] = Counter()
        self.errors: list[str] = []
        self.error_count = 0
        self.flagged = 0
        self.with_loans = 0

    def run(self) -> None:
        runner = self.runner
        with requests.Session() as session:
            while True:
                item = runner.next_item()
                if item is None:
                    return
                body = {
                    "borrower": item.borrower,
                    "purpose": "new_credit",
                    "consent_ref": "bench-consent",
                }
                headers = {"Authorization": f"Bearer {item.key}"}
                started = time.perf_counter()
                try:
                    response = session.post(
                        runner.endpoint, json=body, headers=headers, timeout=runner.timeout
                    )
                    report = response.json() if response.status_code == 200 else None
                    elapsed = time.perf_counter() - started
                    self.statuses[str(response.status_code)] += 1
                    problem = _check(item, response.status_code, report, response.text)
                except (requests.RequestException, ValueError) as exc:
                    elapsed = time.perf_counter() - started
                    self.statuses[type(exc).__name__] += 1
                    problem = f"{type(exc).__name__}: {exc}"
                    report = None
                self.latencies.append(elapsed)
                if problem is not None:
                    self.error_count += 1
                    if len(self.errors) < 5:
                        self.errors.append(problem[:300])
                elif report is not None:
                    self.flagged += bool(report["flags"])
                    self.with_loans += report["summary"]["open_loans"] > 0


def _check(
    item: PlannedInquiry, status: int, report: dict[str, Any] | None, text: str
) -> str | None:
    if status != 200 or report is None:
        return f"HTTP {status}: {text[:200]}"
    if report.get("borrower") != item.borrower or "summary" not in report:
        return f"unexpected report: {str(report)[:200]}"
    if not item.known and report["summary"]["open_loans"] != 0:
        return "a token never reported has open loans"
    return None


class _Runner:
    def __init__(self, base_url: str, plan: list[PlannedInquiry], deadline: float, timeout: float):
        self.endpoint = f"{base_url}/v1/inquiries"
        self.plan = plan
        self.deadline = deadline
        self.timeout = timeout
        self.timed_out = False
        self._next = 0
        self._lock = threading.Lock()

    def next_item(self) -> PlannedInquiry | None:
        with self._lock:
            if self._next >= len(self.plan):
                return None
            if time.monotonic() >= self.deadline:
                self.timed_out = True
                return None
            item = self.plan[self._next]
            self._next += 1
            return item


def run_inquiries(
    base_url: str,
    plan: list[PlannedInquiry],
    concurrency: int,
    phase_timeout: float,
    request_timeout: float,
) -> LoadResult:
    runner = _Runner(base_url, plan, time.monotonic() + phase_timeout, request_timeout)
    workers = [_Worker(runner, f"client-{n}") for n in range(concurrency)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    # Threads stop taking work at the deadline; a request in flight ends by its own timeout.
    for worker in workers:
        worker.join(timeout=phase_timeout + request_timeout + 10)
    seconds = time.perf_counter() - started
    if any(worker.is_alive() for worker in workers):
        raise RuntimeError("a client thread did not finish in time")
    result = LoadResult(seconds=seconds, timed_out=runner.timed_out)
    for worker in workers:
        result.latencies.extend(worker.latencies)
        result.statuses.update(worker.statuses)
        result.errors += worker.error_count
        result.error_samples.extend(worker.errors[: 5 - len(result.error_samples)])
        result.flagged += worker.flagged
        result.with_loans += worker.with_loans
    result.requests = len(result.latencies)
    return result
