"""Property: for random applications across lenders (made at random moments, the windows'
boundaries among them, with random outcomes recorded later, some approvals followed by their
loan), the report's windows, pending applications and provisional loans equal a brute-force
recomputation from the plan, whichever lender asks and whatever `provisional_days` says."""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry.db import transaction
from registry.services.policy import set_threshold
from tests.helpers import NOW, iso, loan, token

_examples = itertools.count()
MINUTE = timedelta(minutes=1)
DAY_MINUTES = 24 * 60
BOUNDARIES = [0, 59, 60, 61, DAY_MINUTES - 1, DAY_MINUTES, DAY_MINUTES + 1]
BOUNDARIES += [d * DAY_MINUTES + k for d in (7, 30, 90) for k in (-1, 0, 1)]
WINDOWS = {"1h": 60, "24h": DAY_MINUTES, "1d": DAY_MINUTES}
WINDOWS |= {f"{d}d": d * DAY_MINUTES for d in (7, 30, 90)}
LENDERS = 4  # applicants are lenders 0..3; the asker is one of them or a fifth


@dataclass(frozen=True)
class Plan:
    lender: int
    minutes_ago: int  # when the inquiry was made
    requested: tuple[int, str] | None
    outcome: str | None
    delay: int  # minutes from the inquiry to its outcome
    approved: tuple[int, str]  # amount and currency, if approved
    reported: bool  # an approval followed by its loan


@st.composite
def plans(draw: st.DrawFn) -> Plan:
    minutes_ago = draw(st.one_of(st.sampled_from(BOUNDARIES), st.integers(0, 100 * DAY_MINUTES)))
    return Plan(
        lender=draw(st.integers(0, LENDERS - 1)),
        minutes_ago=minutes_ago,
        requested=draw(
            st.none() | st.tuples(st.integers(1, 10**6), st.sampled_from(["CNY", "USD"]))
        ),
        outcome=draw(st.sampled_from([None, "approved", "approved", "declined", "withdrawn"])),
        delay=draw(st.integers(0, min(minutes_ago, 30 * DAY_MINUTES))),
        approved=(draw(st.integers(1, 10**6)), draw(st.sampled_from(["CNY", "USD"]))),
        reported=draw(st.booleans()),
    )


def brute_force(book: list[Plan], asker: int, provisional_days: int) -> dict[str, Any]:
    others = [p for p in book if p.lender != asker]
    windows = {
        name: len({p.lender for p in others if p.minutes_ago <= width})
        for name, width in WINDOWS.items()
    }
    pending = [p for p in others if p.outcome is None and p.minutes_ago <= 7 * DAY_MINUTES]
    pending_amount: dict[str, int] = defaultdict(int)
    for p in pending:
        if p.requested is not None:
            pending_amount[p.requested[1]] += p.requested[0]
    provisional = []
    for p in others:
        recorded_ago = p.minutes_ago - p.delay  # the boundary included, like the windows
        if (
            p.outcome == "approved"
            and not p.reported
            and recorded_ago <= provisional_days * DAY_MINUTES
        ):
            recorded_at = NOW - recorded_ago * MINUTE
            until = (recorded_at + timedelta(days=provisional_days)).date().isoformat()
            provisional.append((p.approved[1], p.approved[0], until))
    amounts: dict[str, int] = defaultdict(int)
    for currency, amount, _until in provisional:
        amounts[currency] += amount
    return {
        "other_lenders_inquiring": windows,
        "pending_applications": len(pending),
        "pending_amount": dict(sorted(pending_amount.items())),
        "provisional_loans": len(provisional),
        "provisional_amount": dict(sorted(amounts.items())),
        "provisional_lines": sorted(provisional),
        "open_loans": sum(1 for p in book if p.outcome == "approved" and p.reported),
    }


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    book=st.lists(plans(), min_size=1, max_size=6),
    asker=st.integers(0, LENDERS),
    provisional_days=st.sampled_from([3, 14, 80]),
)
def test_application_figures_equal_a_brute_force(
    client, new_lender, clock, db_session, book, asker, provisional_days
):
    example = next(_examples)
    borrower = token(f"applications-property-{example}")
    with transaction(db_session):
        set_threshold(db_session, "provisional_days", provisional_days, NOW)
    lenders = [new_lender(f"ap{example}-{i}") for i in range(LENDERS + 1)]
    for n, plan in enumerate(book):
        lender = lenders[plan.lender]
        inquired_at: datetime = NOW - plan.minutes_ago * MINUTE
        clock.set(inquired_at)
        body: dict[str, Any] = {"borrower": borrower, "purpose": "new_credit", "consent_ref": "c"}
        if plan.requested is not None:
            body |= {"amount_requested": plan.requested[0], "currency": plan.requested[1]}
        response = client.post("/v1/inquiries", json=body, headers=lender.headers)
        assert response.status_code == 200, response.get_json()
        if plan.outcome is None:
            continue
        outcome: dict[str, Any] = {"outcome": plan.outcome}
        if plan.outcome == "approved":
            amount, currency = plan.approved
            outcome |= {"loan_ref": f"N-{n}", "amount": amount, "currency": currency}
        clock.set(inquired_at + plan.delay * MINUTE)
        inquiry_id = response.get_json()["inquiry_id"]
        path = f"/v1/inquiries/{inquiry_id}/outcome"
        answer = client.post(path, json=outcome, headers=lender.headers)
        assert answer.status_code == 201, answer.get_json()
    clock.set(NOW)
    for n, plan in enumerate(book):
        if plan.outcome == "approved" and plan.reported:
            record = loan(f"N-{n}", borrower, as_of=iso(NOW))
            response = client.post(
                "/v1/loans", json={"loans": [record]}, headers=lenders[plan.lender].headers
            )
            assert response.get_json()["accepted"] == 1, response.get_json()
    body = {"borrower": borrower, "purpose": "new_credit", "consent_ref": "c"}
    report = client.post("/v1/inquiries", json=body, headers=lenders[asker].headers).get_json()
    expected = brute_force(book, asker, provisional_days)
    summary = report["summary"]
    lines = report["tradelines"]
    assert {
        **{k: summary[k] for k in expected if k in summary},
        "provisional_lines": sorted(
            (line["currency"], line["outstanding"], line["provisional_until"])
            for line in lines
            if line["status"] == "provisional"
        ),
    } == expected
    assert all(line["stale"] is False for line in lines if line["status"] == "provisional")
