"""PostgreSQL stops (as in a crash) and starts again while a lender uploads its book and asks
inquiries. The database is a server of the test's own (initdb into a temporary folder, its
own port): the shared one is never touched.

While it is down every API route answers at once with a 503 problem and a Retry-After (never a
500, never a hang), and /readyz says 503; once it is back the same registry process serves
again without a restart (the pool reconnects), and everything acknowledged is there, each
inquiry recorded exactly once."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from lender_client import RegistryClient, RegistryError
from registry.db import make_engine
from registry.migrations import upgrade
from registry.models import Inquiry, InquiryKey, Submission
from tests.faults.book import (
    file_checksum,
    loan_row,
    make_lender,
    stored_book,
    token,
    write_book,
)
from tests.faults.processes import (
    RegistryServer,
    TestPostgres,
    figure,
    group_alive,
    upload_book,
)

pytestmark = pytest.mark.faults

RECORDS = 8_000
BATCH = 500
DOWN_FOR = 4.0
# The longest any answer may take while the database is down: PostgreSQL refusing
# connections is answered at once; a host that drops packets waits for the connect timeout.
NO_HANG = 5.0


@pytest.fixture
def postgres() -> Iterator[TestPostgres]:
    server = TestPostgres()
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.destroy()


def _count(url: str, statement: Any) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.scalar(statement) or 0)
    finally:
        engine.dispose()


class Inquirer(threading.Thread):
    """Asks inquiries one after another (each with its own idempotency key) until told to
    stop; keeps what the registry answered."""

    def __init__(self, url: str, api_key: str) -> None:
        super().__init__(daemon=True)
        self.client = RegistryClient(url, api_key, retry_for=60)
        self.stopping = threading.Event()
        self.answered: dict[str, str] = {}  # idempotency key -> inquiry id
        self.failures: list[str] = []

    def run(self) -> None:
        with self.client:
            n = 0
            while not self.stopping.is_set():
                key = f"pg-outage-inquiry-{n}"
                try:
                    report = self.client.inquire(
                        token(n % 500), consent_ref=f"APP-{n}", idempotency_key=key
                    )
                    self.answered[key] = report.inquiry_id
                except RegistryError as exc:
                    self.failures.append(f"{key}: {exc}")
                n += 1
                time.sleep(0.1)


def _probe(base: str, api_key: str) -> list[tuple[str, int, float, requests.Response]]:
    """One request to each kind of route, without retries: (route, status, seconds, answer)."""
    auth = {"Authorization": f"Bearer {api_key}"}
    record = loan_row(999_999, prefix="PROBE")
    calls: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", "/readyz", None),
        ("GET", "/v1/loans", None),
        ("GET", "/v1/loans/F-000001", None),
        ("POST", "/v1/loans", {"loans": [record]}),
        (
            "POST",
            "/v1/inquiries",
            {"borrower": token(1), "purpose": "new_credit", "consent_ref": "PROBE-1"},
        ),
        ("GET", "/v1/tokens/key", None),
    ]
    out = []
    for method, path, body in calls:
        headers = dict(auth)
        if method == "POST":
            headers["Idempotency-Key"] = f"probe-{time.monotonic_ns()}"
        started = time.monotonic()
        response = requests.request(
            method, base + path, json=body, headers=headers, timeout=NO_HANG * 4
        )
        out.append((f"{method} {path}", response.status_code, time.monotonic() - started, response))
    return out


def test_postgresql_stopped_and_started_during_uploads_and_inquiries(
    postgres: TestPostgres, tmp_path: Path
) -> None:
    url = postgres.create_database("registry")
    upgrade(url)
    api_key = make_lender(url, "pgout")
    path = tmp_path / "book.csv"
    write_book(path, (loan_row(i) for i in range(RECORDS)))
    expected_rows, expected_sum = file_checksum(path)

    server = RegistryServer(
        url,
        tmp_path,
        env={"REGISTRY_DB_CONNECT_TIMEOUT": "2", "REGISTRY_INQUIRY_BURST_PER_MINUTE": "100000"},
    )
    server.start()
    master = server.pid
    assert master is not None
    inquirer = Inquirer(server.url, api_key)
    output = tmp_path / "upload.out"
    try:
        with output.open("wb") as out:
            upload = upload_book(server.url, api_key, path, BATCH, cwd=tmp_path, stdout=out)
            deadline = time.monotonic() + 120
            while _count(url, select(func.count()).select_from(Submission)) < 3:
                assert upload.poll() is None and time.monotonic() < deadline, output.read_text()
                time.sleep(0.05)
            inquirer.start()  # the lender has given: it may ask
            time.sleep(0.5)

            postgres.stop("immediate")
            stopped_at = time.monotonic()
            probes = []
            while time.monotonic() - stopped_at < DOWN_FOR:
                probes.extend(_probe(server.url, api_key))
            time.sleep(max(0.0, DOWN_FOR - (time.monotonic() - stopped_at)))
            postgres.start()
            back_at = time.monotonic()
            while requests.get(f"{server.url}/readyz", timeout=NO_HANG).status_code != 200:
                assert time.monotonic() - back_at < 30, "the registry did not recover"
                time.sleep(0.05)
            ready_after = time.monotonic() - back_at
            status = upload.wait(timeout=180)
            time.sleep(0.5)  # a few inquiries more, after the outage
            inquirer.stopping.set()
            inquirer.join(timeout=90)
        # The same process served before, during and after: nothing was restarted.
        assert server.pid == master and group_alive(master)
    finally:
        inquirer.stopping.set()
        server.stop()
    log = output.read_text()
    assert status == 0, log

    assert probes, "no request was made while the database was down"
    for route, code, seconds, response in probes:
        assert code == 503, (route, code, response.text)
        assert response.headers["Content-Type"].startswith("application/problem+json"), route
        assert response.json()["type"] == "/problems/unavailable", route
        assert int(response.headers["Retry-After"]) > 0, route
        assert seconds < NO_HANG, (route, seconds)
    server_log = server.log()
    assert "Traceback" not in server_log and " 500 " not in server_log, server_log[-3000:]

    stored = stored_book(url, "pgout")
    assert stored.loans == expected_rows == RECORDS
    assert stored.checksum == expected_sum
    assert stored.history_rows == RECORDS and stored.history_mismatches == 0
    assert stored.submissions == RECORDS // BATCH and stored.accepted == RECORDS

    assert inquirer.failures == []
    assert len(inquirer.answered) >= 5
    recorded = _count(url, select(func.count()).select_from(Inquiry))
    keys = _count(url, select(func.count()).select_from(InquiryKey))
    # Every inquiry answered is recorded, once: a retry after a lost answer was a replay.
    assert recorded == keys == len(inquirer.answered)
    ids = set(inquirer.answered.values())
    assert _count(url, select(func.count()).where(Inquiry.id.in_(ids))) == len(ids)
    figure(
        "PostgreSQL stopped (immediate) and started during uploads and inquiries",
        records=RECORDS,
        down_s=DOWN_FOR,
        probes=len(probes),
        slowest_503_s=max(seconds for _, _, seconds, _ in probes),
        ready_after_restart_s=ready_after,
        inquiries_recorded=recorded,
        inquiry_retries=inquirer.client.retry_stats.retries,
    )
