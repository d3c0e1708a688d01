"""Property: for random loan histories across lenders, reported through POST /v1/loans, the
report's tradelines, every summary figure and the flags equal a brute-force recomputation in
plain Python from the stored `loan_history` rows (never from `loans` or `loan_months`, which
the report reads).

Every report of a loan changes its content (its outstanding carries the report's number), so
that each accepted report is one history row. The brute force restates each rule in its own
words: retention (24 months after closing, 60 with negative history, and never past the
registry's keeping: 5 years from the end of the negative event), freshness, labels
(earliest opened loan first, ties by SHA-256 of token and lender id), the 24-month string
(worst state per calendar month), windows counted back from the frozen date.
"""

from __future__ import annotations

import calendar
import hashlib
import itertools
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from fractions import Fraction
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from registry.models import LoanHistory
from tests.helpers import NOW, iso, token

TODAY = NOW.date()
_examples = itertools.count()
LATEST_DAYS = [0, 0, 2, 3, 5, 7, 8, 10, 12, 29, 30, 31, 35, 36, 89, 90, 91, 180, 181, 359, 360,
               724, 725, 729, 730, 731, 1825, 1826, 1827]  # fmt: skip

# --- random histories ---------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    days_ago: int  # the report's as_of, counted back from TODAY (at 12:00 UTC)
    kind: str  # open, written_off, closed
    days_past_due: int


@dataclass(frozen=True)
class LoanPlan:
    lender: int  # index of the lender
    product: str
    currency: str
    opened_before: int  # days between opening and the first report
    limit: int
    frequency: str | None
    payment: int
    steps: tuple[Step, ...]


@st.composite
def loan_plans(draw: st.DrawFn, lenders: int) -> LoanPlan:
    # The latest report's day, often at a boundary: freshness (35 days), the 30/90/180-day
    # windows, the 12 and 24 calendar months (2025-12-01 is 359 days back, 2024-12-01 724),
    # retention (24 months back is 730 days, 60 months 1826); days close to each other so
    # that loans open and close within a week of one another (LOAN_CYCLING).
    last = draw(st.sampled_from(LATEST_DAYS))
    count = draw(st.integers(1, 4))
    gaps = draw(
        st.lists(st.sampled_from([1, 4, 9, 31, 45]), min_size=count - 1, max_size=count - 1)
    )
    days = [last]
    for gap in gaps:
        days.append(days[-1] + gap)
    days.reverse()  # oldest first: each report newer than the one before
    ending = draw(st.sampled_from(["open", "closed", "closed", "written_off", "repaid"]))
    kinds = ["open"] * len(days)
    if ending == "closed":
        kinds[-1] = "closed"
    elif ending == "written_off":
        kinds[-1] = "written_off"
    elif ending == "repaid" and len(days) >= 2:
        kinds[-2:] = ["written_off", "closed"]
    steps = tuple(
        Step(
            day,
            kind,
            0
            if kind == "closed"
            else draw(st.sampled_from([0, 0, 0, 0, 0, 0, 3, 30, 31, 59, 60, 61, 200])),
        )
        for day, kind in zip(days, kinds, strict=True)
    )
    product = draw(st.sampled_from(["cash_loan", "credit_line", "installment"]))
    frequency = draw(st.sampled_from([None, "weekly", "biweekly", "monthly", "single"]))
    return LoanPlan(
        lender=draw(st.integers(0, lenders - 1)),
        product=product,
        currency=draw(st.sampled_from(["CNY", "CNY", "USD"])),
        opened_before=draw(st.sampled_from([0, 2, 5, 7, 8, 40])),
        limit=draw(st.sampled_from([1_000, 10_000, 50_000])),
        frequency=frequency,
        payment=draw(st.integers(1, 999)),
        steps=steps,
    )


@st.composite
def books(draw: st.DrawFn) -> tuple[int, list[LoanPlan], int | None, tuple[int, str] | None]:
    lenders = draw(st.integers(1, 4))  # often 3 or more: the lender-counting flags
    plans = draw(st.lists(loan_plans(lenders), min_size=1, max_size=7))
    caller = draw(st.sampled_from([None, 0]))  # an outsider, or the first lender
    requested = draw(st.sampled_from([None, (5_000, "CNY"), (7, "EUR")]))
    return lenders, plans, caller, requested


def _records(plan: LoanPlan, ref: str, borrower: str) -> list[dict[str, Any]]:
    first_report = TODAY - timedelta(days=plan.steps[0].days_ago)
    opened = first_report - timedelta(days=plan.opened_before)
    records = []
    written_off_on: date | None = None
    for n, step in enumerate(plan.steps):
        as_of = TODAY - timedelta(days=step.days_ago)
        outstanding = min(plan.limit, 500 + n)  # a different content in each report
        record: dict[str, Any] = {
            "loan_ref": ref,
            "borrower": borrower,
            "product": plan.product,
            "currency": plan.currency,
            "principal": plan.limit,
            "credit_limit": plan.limit,
            "outstanding": outstanding,
            "opened_on": opened.isoformat(),
            "status": step.kind,
            "days_past_due": step.days_past_due,
            "as_of": iso(datetime.combine(as_of, NOW.time(), NOW.tzinfo)),
        }
        if plan.product != "credit_line":
            record["due_on"] = (opened + timedelta(days=400)).isoformat()
        if plan.frequency is not None:
            record["scheduled_payment"] = plan.payment
            record["payment_frequency"] = plan.frequency
        if step.days_past_due > 0:
            record["amount_past_due"] = 1 + n % outstanding
        if step.kind == "written_off":
            written_off_on = as_of
            record["closed_on"] = as_of.isoformat()
        if step.kind == "closed":
            record["outstanding"] = 0
            record["closed_on"] = as_of.isoformat()
            if written_off_on is not None:
                record["special_event"] = "repaid_after_write_off"
        records.append(record)
    return records


# --- the brute force ----------------------------------------------------------------------

SEVERITY = "0C1234567W"


def months_back(day: date, months: int) -> date:
    index = day.year * 12 + (day.month - 1) - months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def first_of_month(day: date, back: int = 0) -> date:
    return months_back(day.replace(day=1), back)


def character(status: str, days_past_due: int) -> str:
    if status == "written_off":
        return "W"
    if days_past_due > 0:
        return str(min(7, -(-days_past_due // 30)))
    return "C" if status == "closed" else "0"


def kept_negative(states: list[Any], today: date) -> bool:
    """The registry keeps negative information 5 years after the negative event ended: the
    first write-off's date; else the closing date of a loan closed past due; else the first
    report after the last past-due one that was current, or the closing if that was earlier."""
    last = states[-1]
    written_off = [s for s in states if s.status == "written_off"]
    if written_off:
        ended = written_off[0].closed_on
    elif last.days_past_due > 0:
        ended = last.closed_on
    else:
        past_due = max(i for i, s in enumerate(states) if s.days_past_due > 0)
        cured = next(s.as_of.date() for s in states[past_due + 1 :] if s.days_past_due == 0)
        ended = min(cured, last.closed_on)
    return months_back(ended, -60) >= today


def brute_force(
    rows: list[Any],
    lender_ids: list[int],
    borrower: bytes,
    caller_id: int,
    requested: tuple[int, str] | None,
) -> dict[str, Any]:
    stale_after, today = 35, TODAY
    history: dict[tuple[int, str], list[Any]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: r.as_of):
        history[(row.lender_id, row.loan_ref)].append(row)
    kept = []
    for key, states in history.items():
        last = states[-1]
        negative = any(s.status == "written_off" or s.days_past_due > 0 for s in states)
        retention = 60 if negative else 24
        shown = last.status == "open" or last.closed_on >= months_back(today, retention)
        if shown and (last.status == "open" or not negative or kept_negative(states, today)):
            kept.append((key, states))
    first_opened: dict[int, date] = {}
    for (lender, _), states in kept:
        opened = states[-1].opened_on
        first_opened[lender] = min(first_opened.get(lender, opened), opened)
    order = sorted(
        first_opened,
        key=lambda lender: (
            first_opened[lender],
            hashlib.sha256(borrower + lender.to_bytes(8, "big")).digest(),
        ),
    )
    labels = {lender: "ABCDEFGHIJ"[i] for i, lender in enumerate(order)}
    kept.sort(key=lambda k: (labels[k[0][0]], k[1][-1].opened_on, k[0][1]))

    lines = []
    figures: dict[str, Any] = {
        "worst_days_past_due_12m": 0,
        "worst_days_past_due_24m": 0,
        "last_delinquent_on": None,
    }
    months_24 = [first_of_month(today, back) for back in range(23, -1, -1)]
    for (lender, _), states in kept:
        last = states[-1]
        by_month: dict[date, str] = {}
        for s in states:
            month = s.as_of.date().replace(day=1)
            mine = character(s.status, s.days_past_due)
            if month not in by_month or SEVERITY.index(mine) > SEVERITY.index(by_month[month]):
                by_month[month] = mine
            if month in months_24:
                figures["worst_days_past_due_24m"] = max(
                    figures["worst_days_past_due_24m"], s.days_past_due
                )
            if month in months_24[12:]:
                figures["worst_days_past_due_12m"] = max(
                    figures["worst_days_past_due_12m"], s.days_past_due
                )
            if s.days_past_due > 0:
                seen = figures["last_delinquent_on"]
                figures["last_delinquent_on"] = max(seen or s.as_of.date(), s.as_of.date())
        age = (today - last.as_of.date()).days
        lines.append(
            {
                "lender": labels[lender],
                "own": lender == caller_id,
                "product": last.product,
                "currency": last.currency,
                "credit_limit": last.credit_limit,
                "outstanding": last.outstanding,
                "amount_past_due": last.amount_past_due,
                "days_past_due": last.days_past_due,
                "status": last.status,
                "special_event": last.special_event,
                "opened_month": last.opened_on.isoformat()[:7],
                "closed_month": None if last.status == "open" else last.closed_on.isoformat()[:7],
                "last_reported_on": last.as_of.date().isoformat(),
                "age_days": age,
                "stale": age > stale_after,
                "status_24m": "".join(by_month.get(m, "N") for m in months_24),
                "provisional_until": None,
                "disputed": False,  # no disputes in these books (tests/api/test_disputes*)
                "_lender": lender,
                "_states": states,
            }
        )
    if figures["last_delinquent_on"] is not None:
        figures["last_delinquent_on"] = figures["last_delinquent_on"].isoformat()

    def per_currency(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        totals: dict[str, Any] = {}
        for currency, amount in pairs:
            totals[currency] = totals.get(currency, 0) + amount
        return dict(sorted(totals.items()))

    open_lines = [t for t in lines if t["status"] == "open"]
    revolving = [t for t in open_lines if t["product"] == "credit_line"]
    factor = {"weekly": Fraction(52, 12), "biweekly": Fraction(26, 12)}
    obligations = per_currency(
        [
            (
                t["currency"],
                (t["_states"][-1].scheduled_payment or 0)
                * factor.get(t["_states"][-1].payment_frequency, Fraction(1)),
            )
            for t in open_lines
        ]
    )
    limits = per_currency([(t["currency"], t["credit_limit"]) for t in revolving])
    drawn = per_currency([(t["currency"], t["outstanding"]) for t in revolving])
    written_off = []
    for t in lines:
        first_write_off = next((s for s in t["_states"] if s.status == "written_off"), None)
        if first_write_off is not None:
            written_off.append((t, first_write_off.outstanding))
    outstanding = per_currency([(t["currency"], t["outstanding"]) for t in open_lines])

    def opened_within(days: int, fresh_only: bool = False) -> set[int]:
        return {
            t["_lender"]
            for t in lines
            if (today - t["_states"][-1].opened_on).days <= days and not (fresh_only and t["stale"])
        }

    def closed_on(t: dict[str, Any]) -> date:
        return t["_states"][-1].closed_on  # type: ignore[no-any-return]

    closed_recently = [
        t for t in lines if t["status"] == "closed" and (today - closed_on(t)).days <= 90
    ]
    cycling = sum(
        1
        for t in closed_recently
        if any(
            o["_lender"] != t["_lender"]
            and 0 <= (closed_on(t) - o["_states"][-1].opened_on).days <= 7
            for o in lines
        )
    )
    with_request = None
    if requested is not None:
        with_request = per_currency([*outstanding.items(), (requested[1], requested[0])])
    summary = {
        "open_loans": len(open_lines),
        "lenders_with_open_loans": len({t["_lender"] for t in open_lines}),
        "other_lenders_with_open_loans": len(
            {t["_lender"] for t in open_lines if t["_lender"] != caller_id}
        ),
        "outstanding": outstanding,
        "max_days_past_due": max([t["days_past_due"] for t in open_lines], default=0),
        "past_due_loans": sum(1 for t in open_lines if t["days_past_due"] > 0),
        "written_off_loans": len(written_off),
        "loans_opened_last_30d": sum(
            1 for t in lines if (today - t["_states"][-1].opened_on).days <= 30
        ),
        "other_lenders_inquiring": {"1h": 0, "24h": 0, "1d": 0, "7d": 0, "30d": 0, "90d": 0},
        **figures,
        "written_off_amount": per_currency([(t["currency"], a) for t, a in written_off]),
        "amount_past_due": per_currency(
            [(t["currency"], t["amount_past_due"]) for t in open_lines]
        ),
        "monthly_obligations": {c: int(v + Fraction(1, 2)) for c, v in obligations.items()},
        "credit_limit": limits,
        "utilisation": {c: _four_places(drawn[c], limit) for c, limit in limits.items() if limit},
        "outstanding_with_request": with_request,
        "lenders_opened_30d": len(opened_within(30)),
        "lenders_opened_90d": len(opened_within(90)),
        "lenders_opened_180d": len(opened_within(180)),
        "loans_closed_90d": len(closed_recently),
        "stale_open_loans": sum(1 for t in open_lines if t["stale"]),
        # No applications in these books (tests/api/test_provisional.py has them).
        "pending_applications": 0,
        "pending_amount": {},
        "provisional_loans": 0,
        "provisional_amount": {},
        "disputed_tradelines": 0,
    }
    elsewhere = max(
        [t["days_past_due"] for t in open_lines if t["_lender"] != caller_id], default=0
    )
    balances = {t["_lender"] for t in open_lines if t["outstanding"] > 0 and not t["stale"]}
    utilisations = [Fraction(drawn[c], limit) for c, limit in limits.items() if limit]
    measured = {
        "MULTI_LENDER": len(balances) >= 3,
        "APPLICATION_SPREE": False,
        "PAST_DUE_ELSEWHERE": elsewhere >= 30,
        "WRITTEN_OFF": len(written_off) >= 1,
        "RAPID_BORROWING": len(opened_within(30, fresh_only=True)) >= 3,
        "LOAN_CYCLING": cycling >= 2,
        "PAST_DUE_HISTORY": summary["worst_days_past_due_24m"] >= 60,
        "HIGH_UTILISATION": max(utilisations, default=Fraction(0)) >= Fraction(90, 100),
    }
    own_open = [t for t in open_lines if t["_lender"] == caller_id]
    return {
        "summary": summary,
        "tradelines": [{k: v for k, v in t.items() if not k.startswith("_")} for t in lines],
        "own": {
            "open_loans": len(own_open),
            "outstanding": per_currency([(t["currency"], t["outstanding"]) for t in own_open]),
        },
        "flags": [code for code, raised in measured.items() if raised],
    }


def _four_places(numerator: int, denominator: int) -> str:
    scaled = int(Fraction(numerator * 10_000, denominator) + Fraction(1, 2))
    return f"{scaled // 10_000}.{scaled % 10_000:04d}"


# --- the property -------------------------------------------------------------------------


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(book=books())
def test_the_report_equals_a_brute_force_over_the_stored_history(
    client, new_lender, db_session, book
):
    lender_count, plans, caller_index, requested = book
    example = next(_examples)
    borrower = token(f"property-{example}")
    holders = [new_lender(f"p{example}-{i}") for i in range(lender_count)]
    asker = holders[0] if caller_index == 0 else new_lender(f"p{example}-asker")
    for n, plan in enumerate(plans):
        lender = holders[plan.lender]
        for record in _records(plan, f"R{n}", borrower):
            response = client.post("/v1/loans", json={"loans": [record]}, headers=lender.headers)
            answer = response.get_json()
            assert response.status_code == 200 and not answer["rejected"], (record, answer)
    body: dict[str, Any] = {"borrower": borrower, "purpose": "new_credit", "consent_ref": "c"}
    if requested is not None:
        body |= {"amount_requested": requested[0], "currency": requested[1]}
    response = client.post("/v1/inquiries", json=body, headers=asker.headers)
    assert response.status_code == 200, response.get_json()
    report = response.get_json()

    # Plain rows: the history as stored, detached from the session.
    rows: list[Any] = [
        SimpleNamespace(**row)
        for row in db_session.execute(
            select(LoanHistory.__table__).where(LoanHistory.borrower == bytes.fromhex(borrower))
        ).mappings()
    ]
    db_session.rollback()
    expected = brute_force(
        rows, [h.id for h in holders], bytes.fromhex(borrower), asker.id, requested
    )
    assert report["tradelines"] == expected["tradelines"]
    assert report["summary"] == expected["summary"]
    assert report["own"] == expected["own"]
    assert [f["code"] for f in report["flags"]] == expected["flags"]


@pytest.mark.parametrize(
    "day, months, expected",
    [
        (date(2026, 3, 31), 1, date(2026, 2, 28)),
        (date(2024, 3, 31), 1, date(2024, 2, 29)),
        (date(2026, 1, 15), 24, date(2024, 1, 15)),
        (date(2026, 11, 25), 60, date(2021, 11, 25)),
    ],
)
def test_months_back_clips_to_the_months_end(day, months, expected):
    from registry.services.report.tradelines import shift_months

    assert months_back(day, months) == expected == shift_months(day, -months)
