"""Issue 15, target 4: mixed load. For 60 seconds, client threads each send, request by
request, an inquiry (90 %) or an upload of a 1,000-record batch of new loans (10 %), as one of
20 lenders, to the real server (gunicorn, PostgreSQL) over a loaded book. Targets: no error
at all, inquiry p99 under 50 ms.

    python -m tests.bench.mixed               # its own database, book and server
    mixed.measure(settings) -> list[Result]   # the same, from Python
    mixed.run_on(url, lenders, borrowers, settings)   # against a server already running
    mixed.run(context) -> SectionResult       # a section of `make bench` (the loaded book)
"""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from tests.bench import database
from tests.bench.database import LenderKey
from tests.bench.ingest import OUTPUT, Result
from tests.bench.loadgen import percentile
from tests.bench.section import BenchContext, SectionResult, TargetFigure
from tests.bench.server import Gunicorn, machine_busy_share
from tests.bench.settings import BenchSettings
from tests.bench.tokens import borrower_token, unknown_token

NAME = "Mixed load: 90 % inquiries, 10 % uploads of 1,000 records (target 4)"
TARGET_P99_MS = 50.0


@dataclass(frozen=True)
class MixedSettings:
    seconds: float = 60.0  # BENCH_MIXED_SECONDS
    loans: int = 200_000  # BENCH_MIXED_LOANS: the book loaded first (run() only)
    lenders: int = 20  # BENCH_MIXED_LENDERS
    clients: int = 8  # BENCH_MIXED_CLIENTS: client threads
    upload_share: float = 0.10
    upload_batch: int = 1_000
    workers: int = 2  # BENCH_MIXED_WORKERS: gunicorn workers (run() only)
    seed: int = 42
    pg_url: str = "postgresql://postgres@127.0.0.1:5432"
    request_timeout: float = 30.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> MixedSettings:
        env = os.environ if environ is None else environ
        base = BenchSettings.from_env(env)

        def number(name: str, default: float) -> float:
            raw = env.get(name, "").strip()
            return float(raw) if raw else default

        return cls(
            seconds=number("BENCH_MIXED_SECONDS", cls.seconds),
            loans=int(number("BENCH_MIXED_LOANS", cls.loans)),
            lenders=int(number("BENCH_MIXED_LENDERS", cls.lenders)),
            clients=int(number("BENCH_MIXED_CLIENTS", cls.clients)),
            workers=int(number("BENCH_MIXED_WORKERS", cls.workers)),
            seed=base.seed,
            pg_url=base.pg_url,
            request_timeout=base.request_timeout,
        )


@dataclass
class _Tally:
    inquiry_ms: list[float] = field(default_factory=list)
    upload_ms: list[float] = field(default_factory=list)
    records_accepted: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    errors: int = 0
    samples: list[str] = field(default_factory=list)

    def error(self, text: str) -> None:
        self.errors += 1
        if len(self.samples) < 5:
            self.samples.append(text[:300])


def _batch(label: str, number: int, size: int, borrowers: int, rng: random.Random) -> list[Any]:
    """`size` valid reports of loans new to the registry, 30 % of them to known borrowers."""
    as_of = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    today = date.today()
    records = []
    for n in range(size):
        known = rng.random() < 0.3
        token = borrower_token(rng.randint(1, borrowers)) if known else unknown_token(label, n)
        opened = today - timedelta(days=rng.randint(0, 1500))
        principal = rng.randint(10_000, 10_000_000)
        late = rng.random() < 0.1
        records.append(
            {
                "loan_ref": f"{label}-{number}-{n}",
                "borrower": token.hex(),
                "product": "cash_loan",
                "currency": "CNY",
                "principal": principal,
                "outstanding": principal,
                "opened_on": opened.isoformat(),
                "due_on": (opened + timedelta(days=rng.randint(30, 1800))).isoformat(),
                "status": "open",
                "days_past_due": rng.randint(1, 90) if late else 0,
                "amount_past_due": 1 if late else 0,
                "as_of": as_of,
            }
        )
    return records


def _client(
    name: str,
    url: str,
    lenders: list[LenderKey],
    borrowers: int,
    settings: MixedSettings,
    deadline: float,
    tally: _Tally,
    lock: threading.Lock,
) -> None:
    rng = random.Random(f"{settings.seed}-{name}")
    mine = _Tally()
    uploads = 0
    with requests.Session() as session:
        while time.monotonic() < deadline:
            lender = rng.choice(lenders)
            headers = {"Authorization": f"Bearer {lender.key}"}
            if rng.random() < settings.upload_share:
                uploads += 1
                body: Any = {
                    "loans": _batch(f"MX{name}", uploads, settings.upload_batch, borrowers, rng)
                }
                endpoint, times = f"{url}/v1/loans", mine.upload_ms
            else:
                known = rng.random() < 0.8
                token = (
                    borrower_token(rng.randint(1, borrowers))
                    if known
                    else unknown_token(f"MXQ{name}", rng.randrange(10**9))
                )
                body = {"borrower": token.hex(), "purpose": "new_credit", "consent_ref": "mx"}
                endpoint, times = f"{url}/v1/inquiries", mine.inquiry_ms
            started = time.perf_counter()
            try:
                response = session.post(
                    endpoint, json=body, headers=headers, timeout=settings.request_timeout
                )
                answer = response.json() if response.status_code == 200 else None
            except (requests.RequestException, ValueError) as exc:
                times.append((time.perf_counter() - started) * 1000)
                mine.statuses[type(exc).__name__] += 1
                mine.error(f"{endpoint}: {type(exc).__name__}: {exc}")
                continue
            times.append((time.perf_counter() - started) * 1000)
            mine.statuses[str(response.status_code)] += 1
            if answer is None:
                mine.error(f"{endpoint}: HTTP {response.status_code}: {response.text[:200]}")
            elif "loans" in body:
                if answer.get("accepted") != len(body["loans"]):
                    mine.error(f"upload not all accepted: {str(answer)[:200]}")
                mine.records_accepted += answer.get("accepted", 0)
            elif answer.get("borrower") != body["borrower"]:
                mine.error(f"inquiry answered about another borrower: {str(answer)[:200]}")
    with lock:
        tally.inquiry_ms += mine.inquiry_ms
        tally.upload_ms += mine.upload_ms
        tally.records_accepted += mine.records_accepted
        tally.statuses.update(mine.statuses)
        tally.errors += mine.errors
        tally.samples += mine.samples[: 5 - len(tally.samples)]


def run_on(
    url: str, lenders: list[LenderKey], borrowers: int, settings: MixedSettings, log: Any = print
) -> list[Result]:
    """The mixed load against the server at `url`, whose book holds borrowers 1..`borrowers`."""
    busy = machine_busy_share(2.0)
    tally, lock = _Tally(), threading.Lock()
    deadline = time.monotonic() + settings.seconds
    threads = [
        threading.Thread(
            target=_client,
            args=(str(n), url, lenders, borrowers, settings, deadline, tally, lock),
            daemon=True,
        )
        for n in range(settings.clients)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(settings.seconds + settings.request_timeout + 30)
    seconds = time.perf_counter() - started
    inquiries, uploads = sorted(tally.inquiry_ms), sorted(tally.upload_ms)
    p99 = percentile(inquiries, 99) if inquiries else 0.0
    inquiries_per_s = round(len(inquiries) / seconds, 1)
    records_per_s = round(tally.records_accepted / seconds, 1)
    detail: dict[str, Any] = {
        "seconds": round(seconds, 1),
        "clients": settings.clients,
        "inquiries": len(inquiries),
        "inquiries_per_s": inquiries_per_s,
        "inquiry_ms": {
            q: round(percentile(inquiries, p), 2) if inquiries else 0.0
            for q, p in (("p50", 50), ("p90", 90), ("p99", 99))
        },
        "uploads": len(uploads),
        "upload_ms": {
            q: round(percentile(uploads, p), 1) if uploads else 0.0
            for q, p in (("p50", 50), ("p99", 99))
        },
        "records_accepted_per_s": records_per_s,
        "statuses": dict(tally.statuses),
        "errors": tally.errors,
        "error_samples": tally.samples,
        "machine_busy_before": busy,
    }
    log(f"  mixed load: {json.dumps(detail)}")
    share = len(uploads) / max(len(uploads) + len(inquiries), 1)
    title = (
        f"mixed load {settings.seconds:.0f} s, {settings.clients} clients, "
        f"{share:.0%} uploads of {settings.upload_batch:,}, {len(lenders)} lenders"
    )
    return [
        Result(f"{title}: errors", tally.errors, "", "0", tally.errors == 0, detail),
        Result(
            f"{title}: inquiry p99", p99, "ms", f"< {TARGET_P99_MS:.0f} ms", p99 < TARGET_P99_MS
        ),
        Result(f"{title}: inquiries", inquiries_per_s, "/s"),
        Result(f"{title}: records stored", records_per_s, "/s"),
    ]


def run(context: BenchContext) -> SectionResult:
    """The section of `make bench`: on the loaded book, with its lenders."""
    settings = MixedSettings.from_env()
    lenders = context.lenders[: settings.lenders]
    with context.server(settings.workers) as server:
        results = run_on(server.url, lenders, context.load.borrowers, settings, context.log)
    errors, p99 = results[0], results[1]
    detail = errors.detail
    data = f"a book of {context.load.loans:,} loans"
    load = (
        f"{settings.clients} client threads, {settings.workers} gunicorn workers, all on this "
        f"machine; busy {detail['machine_busy_before']:.0%} before"
    )
    figures = [
        TargetFigure(
            "4. mixed load: errors",
            f"**{int(errors.value)}** of {detail['inquiries']:,} inquiries and "
            f"{detail['uploads']:,} uploads in {detail['seconds']:.0f} s",
            "0",
            errors.met,
            data,
            load,
        ),
        TargetFigure(
            "4. mixed load: inquiry p99",
            f"**{p99.value:.1f} ms** (p50 {detail['inquiry_ms']['p50']} ms; "
            f"{detail['inquiries_per_s']:,.0f} inquiries/s and "
            f"{detail['records_accepted_per_s']:,.0f} records/s stored)",
            f"< {TARGET_P99_MS:.0f} ms",
            p99.met,
            data,
            load,
        ),
    ]
    problems = [f"mixed load: {errors.value:.0f} errors"] if errors.value else []
    return SectionResult(figures, detail, problems)


def measure(settings: MixedSettings, log: Any = print) -> list[Result]:
    """A throwaway database with a book of `settings.loans` loans, a server, the load."""
    name = database.create_database(settings.pg_url)
    url = database.database_url(settings.pg_url, name)
    try:
        database.migrate(url)
        lenders = database.create_lenders(url, settings.lenders)
        load = database.load_dataset(url, settings.loans, lenders, 10_000, settings.seed, log=log)
        with (
            tempfile.TemporaryDirectory(prefix="registry-mixed-") as tmp,
            Gunicorn(
                url, settings.workers, OUTPUT / "gunicorn-mixed.log", Path(tmp) / "prom"
            ) as server,
        ):
            return run_on(server.url, lenders, load.borrowers, settings, log)
    finally:
        database.drop_database(settings.pg_url, name)


def main() -> int:
    results = measure(MixedSettings.from_env())
    OUTPUT.mkdir(exist_ok=True)
    (OUTPUT / "mixed.json").write_text(json.dumps([asdict(r) for r in results], indent=2))
    print("| figure | value |\n|---|---|")
    for result in results:
        print(result.line())
    return 0 if all(r.met is not False for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
