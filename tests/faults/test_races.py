"""Races, on SQLite and PostgreSQL, against the real server over HTTP: 8 clients reporting
states of the same loans in 8 different orders end with every loan in its newest state; 8
identical requests with one idempotency key, sent at once, write once; 8 inquiries at once
are all recorded (and 8 with one key, once)."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest
import requests
from sqlalchemy import Engine, func, select

from lender_client import RegistryClient
from registry.models import Inquiry, InquiryKey, Lender, LoanHistory, Submission
from tests.conftest import LiveServer
from tests.faults.book import as_record, book_line, checksum, loan_row, stored_book, token
from tests.faults.processes import figure

pytestmark = pytest.mark.faults

CLIENTS = 8
STATES = 8
# Open loans only: a closed loan's later states are "unchanged" (no history row to check).
LOANS = [i for i in range(40) if i % 10 != 3][:20]

T = TypeVar("T")


def at_once(count: int, work: Callable[[int], T]) -> list[T]:
    """``work(0..count-1)`` in ``count`` threads released together."""
    barrier = threading.Barrier(count)

    def run(n: int) -> T:
        barrier.wait(timeout=30)
        return work(n)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def _lender_id(engine: Engine, code: str) -> int:
    with engine.connect() as conn:
        found = conn.scalar(select(Lender.id).where(Lender.code == code))
    assert found is not None
    return int(found)


def test_out_of_order_states_from_8_clients_end_in_the_newest(
    live_server: LiveServer, new_lender, database_url: str, database_engine: Engine
) -> None:
    lender = new_lender("races")

    def client(n: int) -> list[int]:
        order = list(range(STATES))
        random.Random(n).shuffle(order)  # each client its own order of the states
        sent = []
        with RegistryClient(live_server.url, lender.api_key) as sdk:
            for step in order:
                batch = [as_record(loan_row(i, step, prefix="R")) for i in LOANS]
                result = sdk.submit_batch(batch)
                assert not result.rejected, result.rejected
                sent.append(result.accepted)
        return sent

    accepted = sum(sum(per_client) for per_client in at_once(CLIENTS, client))
    stored = stored_book(database_url, "races")
    newest = [book_line(loan_row(i, STATES - 1, prefix="R")) for i in LOANS]
    assert stored.loans == len(LOANS) and stored.checksum == checksum(newest)
    # Every accepted state left one history row, and each loan's newest row is its state.
    assert stored.history_rows == accepted == stored.accepted
    assert stored.history_mismatches == 0
    assert stored.submissions == CLIENTS * STATES
    figure(
        f"8 clients, states out of order ({database_engine.dialect.name})",
        batches=CLIENTS * STATES,
        records=CLIENTS * STATES * len(LOANS),
        accepted=accepted,
        history_rows=stored.history_rows,
    )


def test_8_identical_requests_with_one_key_write_once(
    live_server: LiveServer, new_lender, database_engine: Engine
) -> None:
    lender = new_lender("samekey")
    batch = {"loans": [as_record(loan_row(i, prefix="K")) for i in range(50)]}
    headers = {**lender.headers, "Idempotency-Key": "same-key-8"}

    def post(_n: int) -> requests.Response:
        return requests.post(f"{live_server.url}/v1/loans", json=batch, headers=headers, timeout=60)

    answers = at_once(CLIENTS, post)
    assert [a.status_code for a in answers] == [200] * CLIENTS, [a.text for a in answers]
    assert len({a.json()["submission_id"] for a in answers}) == 1
    replays = sum(a.headers.get("Idempotent-Replayed") == "true" for a in answers)
    lender_id = _lender_id(database_engine, "samekey")
    with database_engine.connect() as conn:
        submissions = conn.scalar(
            select(func.count()).select_from(Submission).where(Submission.lender_id == lender_id)
        )
        history = conn.scalar(
            select(func.count()).select_from(LoanHistory).where(LoanHistory.lender_id == lender_id)
        )
    assert submissions == 1 and history == 50
    assert {a.json()["accepted"] for a in answers} == {50}

    inquiry = {"borrower": token(7), "consent_ref": "SAME-1", "purpose": "new_credit"}
    inquiry_headers = {**lender.headers, "Idempotency-Key": "same-inquiry-8"}

    def ask(_n: int) -> requests.Response:
        return requests.post(
            f"{live_server.url}/v1/inquiries", json=inquiry, headers=inquiry_headers, timeout=60
        )

    asked = at_once(CLIENTS, ask)
    assert [a.status_code for a in asked] == [200] * CLIENTS, [a.text for a in asked]
    assert len({a.json()["inquiry_id"] for a in asked}) == 1
    with database_engine.connect() as conn:
        recorded = conn.scalar(
            select(func.count()).select_from(Inquiry).where(Inquiry.lender_id == lender_id)
        )
    assert recorded == 1
    figure(
        f"8 identical requests, one key ({database_engine.dialect.name})",
        uploads_written=submissions,
        upload_replays=replays,
        inquiries_recorded=recorded,
    )


def test_8_inquiries_at_once_are_all_recorded(
    live_server: LiveServer, new_lender, database_engine: Engine
) -> None:
    lender = new_lender("inquirer")
    with RegistryClient(live_server.url, lender.api_key) as sdk:  # give to get
        sdk.submit_batch([as_record(loan_row(i, prefix="Q")) for i in range(5)])

    def ask(n: int) -> Any:
        with RegistryClient(live_server.url, lender.api_key) as sdk:
            return sdk.inquire(token(n % 3), consent_ref=f"AT-ONCE-{n}").inquiry_id

    ids = at_once(CLIENTS, ask)
    assert len(set(ids)) == CLIENTS
    lender_id = _lender_id(database_engine, "inquirer")
    with database_engine.connect() as conn:
        recorded = set(conn.scalars(select(Inquiry.id).where(Inquiry.lender_id == lender_id)).all())
        keys = conn.scalar(
            select(func.count()).select_from(InquiryKey).where(InquiryKey.lender_id == lender_id)
        )
    assert recorded == set(ids) and keys == CLIENTS
    figure(
        f"8 inquiries at once ({database_engine.dialect.name})",
        inquiries=CLIENTS,
        recorded=len(recorded),
    )
