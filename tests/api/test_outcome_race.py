"""Lenders racing outcomes and loan reports, over real HTTP with real commits, on both
backends: identical outcomes sent at once end as one row and one answer, a different one sent
at the same time is a 409, and the inquiries made meanwhile count each approved loan once
(its provisional loan or the reported loan, never both)."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from registry.db import make_engine
from registry.models import ApplicationOutcome
from tests.helpers import iso, loan, token

pytestmark = pytest.mark.committed

ROUNDS = 3
SAME = 3  # identical approvals sent at once
ASKERS = 2
APPROVED = {"outcome": "approved", "amount": 300_000, "currency": "CNY"}


def post(url: str, lender: Any, body: dict[str, Any]) -> requests.Response:
    return requests.post(url, json=body, headers=lender.headers, timeout=60)


def counted_once(report: dict[str, Any]) -> str | None:
    """Why the report counts a loan twice or disagrees with its tradelines (None if fine)."""
    labels = Counter(line["lender"] for line in report["tradelines"])
    if any(n > 1 for n in labels.values()):
        return f"a lender shown twice: {report['tradelines']}"
    statuses = Counter(line["status"] for line in report["tradelines"])
    summary = report["summary"]
    if summary["provisional_loans"] != statuses["provisional"]:
        return f"provisional_loans {summary['provisional_loans']} vs {statuses}"
    if summary["open_loans"] != statuses["open"]:
        return f"open_loans {summary['open_loans']} vs {statuses}"
    return None


def race(url: str, first: Any, second: Any, asker: Any, round_: int) -> str:
    """One round: the first lender sends identical approvals, a decline and the loan's report
    at once, the second lender approves its own application, the asker inquires throughout.
    Returns the outcome that won."""
    borrower = token(f"race-{round_}")
    ref = f"R-{round_}"
    inquiry = {"borrower": borrower, "purpose": "new_credit", "consent_ref": "c"}
    inquiry_id = post(f"{url}/v1/inquiries", first, inquiry).json()["inquiry_id"]
    now = datetime.now(UTC)
    record = loan(
        ref, borrower, as_of=iso(now), opened_on=(now - timedelta(days=1)).date().isoformat()
    )
    start = threading.Barrier(SAME + 3 + ASKERS)
    done = threading.Event()
    answers: list[tuple[str, int, dict[str, Any]]] = []
    errors: list[str] = []

    def record_outcome(body: dict[str, Any]) -> None:
        start.wait()
        response = post(f"{url}/v1/inquiries/{inquiry_id}/outcome", first, body)
        answers.append((body["outcome"], response.status_code, response.json()))

    def report_loan() -> None:
        start.wait()
        response = post(f"{url}/v1/loans", first, {"loans": [record]})
        if response.status_code != 200 or response.json()["accepted"] != 1:
            errors.append(f"report: {response.status_code} {response.text}")

    def second_lender_approves() -> None:
        start.wait()
        own = post(f"{url}/v1/inquiries", second, inquiry).json()["inquiry_id"]
        body = {**APPROVED, "loan_ref": f"S-{ref}"}
        response = post(f"{url}/v1/inquiries/{own}/outcome", second, body)
        if response.status_code != 201:
            errors.append(f"second lender: {response.status_code} {response.text}")

    def ask() -> None:
        start.wait()
        last = False
        while not last:
            last = done.is_set()
            response = post(f"{url}/v1/inquiries", asker, inquiry)
            if response.status_code != 200:
                errors.append(f"inquiry: {response.status_code} {response.text}")
                return
            problem = counted_once(response.json())
            if problem:
                errors.append(problem)
                return

    writers = [
        threading.Thread(target=record_outcome, args=({**APPROVED, "loan_ref": ref},))
        for _ in range(SAME)
    ]
    writers.append(threading.Thread(target=record_outcome, args=({"outcome": "declined"},)))
    writers += [
        threading.Thread(target=report_loan),
        threading.Thread(target=second_lender_approves),
    ]
    readers = [threading.Thread(target=ask) for _ in range(ASKERS)]
    for thread in writers + readers:
        thread.start()
    for thread in writers:
        thread.join(timeout=120)
    done.set()
    for thread in readers:
        thread.join(timeout=120)
    assert errors == []

    # One outcome won; the same one sent again got its answer, a different one a 409.
    created = [(kind, body) for kind, status, body in answers if status == 201]
    assert len(created) == 1, answers
    won, answer = created[0]
    for kind, status, body in answers:
        if kind == won and status != 201:
            assert (status, body) == (200, answer)
        elif kind != won:
            assert status == 409 and body["type"] == "/problems/outcome-conflict"
    # After the race: the first lender's loan is reported (its approval, if it won, is
    # replaced); the second lender's approval is provisional.
    final = post(f"{url}/v1/inquiries", asker, inquiry).json()
    assert counted_once(final) is None
    assert sorted(line["status"] for line in final["tradelines"]) == ["open", "provisional"]
    assert final["summary"]["provisional_amount"] == {"CNY": 300_000}
    return won


def test_lenders_racing_outcomes_and_reports(live_server, new_lender, database_url):
    first, second, asker = new_lender("first"), new_lender("second"), new_lender("asker")
    winners = Counter(race(live_server.url, first, second, asker, n) for n in range(ROUNDS))
    assert sum(winners.values()) == ROUNDS
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.scalar(select(func.count()).select_from(ApplicationOutcome))
    finally:
        engine.dispose()
    assert rows == 2 * ROUNDS  # one per inquiry: the first lender's and the second's
