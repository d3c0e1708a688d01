"""A retraction racing inquiries, over real HTTP with real commits, on both backends: each
inquiry sees the retracted loan whole (its balance, its tradeline, its months of history) or
not at all, never half."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from tests.helpers import iso, loan, token

pytestmark = pytest.mark.committed

ROUNDS = 4
ASKERS = 3


def history(loan_ref: str, borrower: int) -> list[dict[str, Any]]:
    """Three reports over three months, 40 days past due in the middle one."""
    now = datetime.now(UTC)
    common = {"opened_on": (now - timedelta(days=200)).date().isoformat()}
    common["due_on"] = (now + timedelta(days=300)).date().isoformat()
    return [
        loan(loan_ref, borrower, as_of=iso(now - timedelta(days=62)), **common),
        loan(
            loan_ref,
            borrower,
            as_of=iso(now - timedelta(days=31)),
            days_past_due=40,
            outstanding=790_000,
            **common,
        ),
        loan(
            loan_ref, borrower, as_of=iso(now - timedelta(hours=1)), outstanding=780_000, **common
        ),
    ]


def seen(report: dict[str, Any]) -> bool:
    """Whether the report shows the loan; fails if it shows only part of it."""
    summary = report["summary"]
    parts: dict[str, bool] = {
        "open_loans": summary["open_loans"] == 1,
        "outstanding": summary["outstanding"] == {"CNY": 780_000},
    }
    if "worst_days_past_due_24m" in summary:
        parts["worst_24m"] = summary["worst_days_past_due_24m"] == 40
    if "tradelines" in report:
        lines = report["tradelines"]
        parts["tradeline"] = len(lines) == 1
        parts["status_24m"] = len(lines) == 1 and "2" in lines[0]["status_24m"]
    assert len(set(parts.values())) == 1, f"half a loan: {parts}"
    return parts["open_loans"]


def test_a_retraction_racing_inquiries_is_seen_whole_or_not_at_all(live_server, new_lender):
    reporter, asker = new_lender(), new_lender()
    url = live_server.url
    outcomes: list[bool] = []
    errors: list[str] = []
    for round_ in range(ROUNDS):
        borrower = 1000 + round_
        ref = f"RACE-{round_}"
        for record in history(ref, borrower):
            answer = requests.post(
                f"{url}/v1/loans", json={"loans": [record]}, headers=reporter.headers, timeout=60
            ).json()
            assert answer["accepted"] == 1, answer
        start = threading.Barrier(ASKERS + 1)
        done = threading.Event()

        def retract(ref: str, start: threading.Barrier, done: threading.Event) -> None:
            start.wait()
            response = requests.delete(
                f"{url}/v1/loans/{ref}",
                json={"reason": "wrong_borrower"},
                headers=reporter.headers,
                timeout=60,
            )
            if response.status_code != 200:
                errors.append(f"retraction: {response.status_code} {response.text}")
            done.set()

        def ask(borrower: int, start: threading.Barrier, done: threading.Event) -> None:
            body = {"borrower": token(borrower), "purpose": "new_credit", "consent_ref": "c"}
            start.wait()
            last = False
            while not last:
                last = done.is_set()
                response = requests.post(
                    f"{url}/v1/inquiries", json=body, headers=asker.headers, timeout=60
                )
                if response.status_code != 200:
                    errors.append(f"inquiry: {response.status_code} {response.text}")
                    return
                try:
                    outcomes.append(seen(response.json()))
                except AssertionError as exc:
                    errors.append(str(exc))
                    return

        threads = [threading.Thread(target=retract, args=(ref, start, done))]
        threads += [
            threading.Thread(target=ask, args=(borrower, start, done)) for _ in range(ASKERS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert errors == []
        # After the retraction, nothing of it is left.
        body = {"borrower": token(borrower), "purpose": "new_credit", "consent_ref": "c"}
        after = requests.post(f"{url}/v1/inquiries", json=body, headers=asker.headers, timeout=60)
        assert seen(after.json()) is False
    assert False in outcomes
