"""Tradelines and the report's newer figures and flags (issue 9), reported through
POST /v1/loans and asked through POST /v1/inquiries, against hand-computed values with the
clock frozen at NOW (2026-11-25 12:00 UTC): each threshold at its edge, each window at its
boundary, the 24-month string across month and year boundaries."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from registry.db import transaction
from registry.services import lenders as lender_service
from registry.services.policy import set_threshold
from tests.helpers import NOW, loan, token

B = token("tradelines")
TODAY = NOW.date()


def day(offset_days: int) -> str:
    """TODAY minus `offset_days`, as an ISO date."""
    return (TODAY - timedelta(days=offset_days)).isoformat()


def at(iso_day: str) -> str:
    return f"{iso_day}T12:00:00Z"


def rec(ref: str, as_of_day: str, **fields: Any) -> dict[str, Any]:
    """A report of loan `ref` of borrower B as of noon on `as_of_day`."""
    fields.setdefault("opened_on", "2024-01-02")
    fields.setdefault("due_on", "2027-12-31")
    return loan(ref, B, as_of=at(as_of_day), **fields)


def report(client: Any, lender: Any, *records: dict[str, Any]) -> None:
    for record in records:  # one by one: each a newer state of its loan
        response = client.post("/v1/loans", json={"loans": [record]}, headers=lender.headers)
        body = response.get_json()
        assert response.status_code == 200 and not body["rejected"], body


def ask(client: Any, lender: Any, **extra: Any) -> dict[str, Any]:
    body = {"borrower": B, "purpose": "new_credit", "consent_ref": "c-1", **extra}
    response = client.post("/v1/inquiries", json=body, headers=lender.headers)
    assert response.status_code == 200, response.get_json()
    result: dict[str, Any] = response.get_json()
    return result


def codes(result: dict[str, Any]) -> list[str]:
    return [flag["code"] for flag in result["flags"]]


def detail(result: dict[str, Any], code: str) -> str:
    return next(str(f["detail"]) for f in result["flags"] if f["code"] == code)


def set_policy(db_session: Any, code: str, value: int) -> None:
    with transaction(db_session):
        set_threshold(db_session, code, value, NOW)


# --- one tradeline, every field ---------------------------------------------------------


def test_a_tradeline_carries_every_field(client, new_lender):
    me, other = new_lender("me"), new_lender("other")
    report(
        client,
        other,
        rec(
            "O1",
            day(3),
            product="credit_line",
            principal=500_000,
            credit_limit=500_000,
            outstanding=200_000,
            opened_on="2026-02-14",
            due_on=None,
            days_past_due=12,
            amount_past_due=15_000,
            scheduled_payment=20_000,
            payment_frequency="monthly",
            special_event="extended",
        ),
    )
    (line,) = ask(client, me)["tradelines"]
    assert line == {
        "lender": "A",
        "own": False,
        "product": "credit_line",
        "currency": "CNY",
        "credit_limit": 500_000,
        "outstanding": 200_000,
        "amount_past_due": 15_000,
        "days_past_due": 12,
        "status": "open",
        "special_event": "extended",
        "opened_month": "2026-02",
        "closed_month": None,
        "last_reported_on": day(3),
        "age_days": 3,
        "stale": False,
        "status_24m": "N" * 23 + "1",
        "provisional_until": None,
        "disputed": False,
    }


def test_labels_follow_each_lenders_earliest_loan_and_mark_the_callers_own(client, new_lender):
    me, early, late = new_lender("me"), new_lender("early"), new_lender("late")
    report(client, late, rec("L1", day(1), opened_on="2026-05-01"))
    report(client, me, rec("M1", day(1), opened_on="2026-03-01"))
    report(
        client,
        early,
        rec("E2", day(1), opened_on="2026-06-01"),
        rec("E1", day(1), opened_on="2025-01-01"),
    )
    lines = ask(client, me)["tradelines"]
    assert [(t["lender"], t["own"], t["opened_month"]) for t in lines] == [
        ("A", False, "2025-01"),  # early: its earliest loan is the oldest
        ("A", False, "2026-06"),
        ("B", True, "2026-03"),  # me
        ("C", False, "2026-05"),  # late
    ]
    # Seen by another lender: the same labels, and "own" moves.
    assert [t["own"] for t in ask(client, late)["tradelines"]] == [False, False, False, True]


# --- the 24-month string ------------------------------------------------------------------


def test_status_string_across_months_and_years_with_gaps_and_the_worst_of_a_month(
    client, new_lender
):
    me, other = new_lender("me"), new_lender("other")
    report(
        client,
        other,
        rec("S", "2024-11-20", days_past_due=100, amount_past_due=1),  # before the 24 months
        rec("S", "2024-12-20"),  # the first month of the string: current
        rec("S", "2025-01-05"),
        rec("S", "2025-01-20", days_past_due=45, amount_past_due=1),  # the month's worst
        rec("S", "2025-01-28"),  # cured in the same month: the month stays "2"
        # 2025-02: no report
        rec("S", "2025-03-01", days_past_due=0, outstanding=700_000),
        rec("S", "2026-10-31", days_past_due=0, outstanding=600_000),
        rec("S", "2026-11-20", status="closed", outstanding=0, closed_on="2026-11-20"),
    )
    result = ask(client, me)
    (line,) = result["tradelines"]
    assert line["status_24m"] == "02N0" + "N" * 18 + "0C"
    assert (line["status"], line["closed_month"]) == ("closed", "2026-11")
    summary = result["summary"]
    assert summary["worst_days_past_due_24m"] == 45  # 2024-11's 100 is outside
    assert summary["worst_days_past_due_12m"] == 0  # 2025-12 to 2026-11
    assert summary["last_delinquent_on"] == "2025-01-20"
    assert "PAST_DUE_HISTORY" not in codes(result)


def test_write_off_then_repaid_keeps_its_negative_history(client, new_lender):
    me, other = new_lender("me"), new_lender("other")
    report(
        client,
        other,
        rec("W", "2026-05-10", days_past_due=170, amount_past_due=50_000, outstanding=50_000),
        rec(
            "W",
            "2026-06-10",
            status="written_off",
            outstanding=50_000,
            days_past_due=200,
            amount_past_due=50_000,
            closed_on="2026-06-10",
        ),
        rec(
            "W",
            "2026-09-10",
            status="closed",
            outstanding=0,
            closed_on="2026-09-10",
            special_event="repaid_after_write_off",
        ),
    )
    result = ask(client, me)
    (line,) = result["tradelines"]
    # 2026-05 is index 17: 6 (151-180), 2026-06 W, then nothing, 2026-09 C.
    assert line["status_24m"] == "N" * 17 + "6WNNCNN"
    assert (line["status"], line["special_event"]) == ("closed", "repaid_after_write_off")
    summary = result["summary"]
    assert summary["written_off_loans"] == 1
    assert summary["written_off_amount"] == {"CNY": 50_000}
    assert summary["worst_days_past_due_24m"] == 200
    assert summary["last_delinquent_on"] == "2026-06-10"
    assert summary["loans_closed_90d"] == 1  # closed 2026-09-10, within 90 days
    assert summary["open_loans"] == 0 and summary["outstanding"] == {}
    assert codes(result) == ["WRITTEN_OFF", "PAST_DUE_HISTORY"]
    assert detail(result, "WRITTEN_OFF") == (
        "1 written-off loan(s) within retention, later repaid ones included "
        "(1 repaid or closed after the write-off) (threshold 1)"
    )


# --- retention ------------------------------------------------------------------------------


@pytest.mark.parametrize("months_back, offset, shown", [(24, 0, True), (24, 1, False)])
def test_a_clean_closed_loan_is_shown_for_24_months(client, new_lender, months_back, offset, shown):
    me, other = new_lender("me"), new_lender("other")
    closed = date(TODAY.year - months_back // 12, TODAY.month, TODAY.day) - timedelta(offset)
    report(
        client,
        other,
        rec("C", closed.isoformat(), status="closed", outstanding=0, closed_on=str(closed)),
    )
    result = ask(client, me)
    assert len(result["tradelines"]) == int(shown)
    assert result["summary"]["loans_opened_last_30d"] == 0


@pytest.mark.parametrize("offset, shown", [(0, True), (1, False)])
def test_negative_history_is_shown_for_5_years_after_closing(client, new_lender, offset, shown):
    me, other = new_lender("me"), new_lender("other")
    closed = (date(TODAY.year - 5, TODAY.month, TODAY.day) - timedelta(offset)).isoformat()
    earlier = (date.fromisoformat(closed) - timedelta(days=30)).isoformat()
    report(
        client,
        other,
        rec("N", earlier, opened_on="2020-01-01", days_past_due=40, amount_past_due=1),
        rec("N", closed, opened_on="2020-01-01", status="closed", outstanding=0, closed_on=closed),
    )
    result = ask(client, me)
    assert len(result["tradelines"]) == int(shown)
    assert result["summary"]["last_delinquent_on"] == (earlier if shown else None)
    # Five years ago is outside 24 months: no worst, no PAST_DUE_HISTORY.
    assert result["summary"]["worst_days_past_due_24m"] == 0


def test_a_written_off_loan_is_shown_and_counted_within_5_years(client, new_lender):
    me, other = new_lender("me"), new_lender("other")
    written_off = "2023-01-10"
    report(
        client,
        other,
        rec(
            "W",
            written_off,
            opened_on="2022-01-01",
            status="written_off",
            outstanding=9_000,
            days_past_due=190,
            amount_past_due=9_000,
            closed_on=written_off,
            currency="USD",
        ),
    )
    result = ask(client, me)
    assert [t["status"] for t in result["tradelines"]] == ["written_off"]
    assert result["summary"]["written_off_loans"] == 1
    assert result["summary"]["written_off_amount"] == {"USD": 9_000}
    assert "WRITTEN_OFF" in codes(result)


# --- freshness and exited lenders -----------------------------------------------------------


@pytest.mark.parametrize("age, stale", [(35, False), (36, True)])
def test_stale_after_days_at_its_edge(client, new_lender, age, stale):
    me, other = new_lender("me"), new_lender("other")
    report(client, other, rec("F", day(age)))
    result = ask(client, me)
    (line,) = result["tradelines"]
    assert (line["age_days"], line["stale"]) == (age, stale)
    assert result["summary"]["stale_open_loans"] == int(stale)
    assert result["summary"]["open_loans"] == 1  # stale loans stay in the current figures


def test_stale_after_days_is_the_policys(client, new_lender, db_session):
    me, other = new_lender("me"), new_lender("other")
    report(client, other, rec("F", day(11)))
    assert ask(client, me)["summary"]["stale_open_loans"] == 0
    set_policy(db_session, "stale_after_days", 10)
    assert ask(client, me)["summary"]["stale_open_loans"] == 1


def test_an_exited_lenders_loans_are_stale_from_the_exit_on(client, new_lender, db_session, clock):
    me, gone = new_lender("me"), new_lender("gone")
    report(client, gone, rec("G", day(0)))
    with transaction(db_session):
        lender = lender_service.get_lender(db_session, "gone")
        assert lender_service.exit_lender(db_session, lender, NOW)
        assert not lender_service.exit_lender(db_session, lender, NOW)  # once
    (line,) = ask(client, me)["tradelines"]
    assert line["stale"] and line["age_days"] == 0
    clock.set(NOW - timedelta(seconds=1))  # before the exit: fresh
    assert not ask(client, me)["tradelines"][0]["stale"]


def test_stale_loans_do_not_count_towards_multi_lender_unless_the_policy_says(
    client, new_lender, db_session
):
    me = new_lender("me")
    for i, age in enumerate((0, 10, 40)):
        report(client, new_lender(f"h{i}"), rec(f"H{i}", day(age)))
    result = ask(client, me)
    assert result["summary"]["lenders_with_open_loans"] == 3
    assert result["summary"]["stale_open_loans"] == 1
    assert "MULTI_LENDER" not in codes(result)
    set_policy(db_session, "count_stale_loans", 1)
    result = ask(client, me)
    assert "MULTI_LENDER" in codes(result)
    assert "stale loans included" in detail(result, "MULTI_LENDER")


def test_stale_loans_do_not_count_towards_rapid_borrowing_unless_the_policy_says(
    client, new_lender, db_session
):
    me = new_lender("me")
    set_policy(db_session, "stale_after_days", 5)
    for i, age in enumerate((1, 2, 6)):
        report(client, new_lender(f"h{i}"), rec(f"H{i}", day(age), opened_on=day(20)))
    result = ask(client, me)
    assert result["summary"]["lenders_opened_30d"] == 3
    assert "RAPID_BORROWING" not in codes(result)
    set_policy(db_session, "count_stale_loans", 1)
    assert "RAPID_BORROWING" in codes(ask(client, me))


def test_stale_loans_never_hide_negative_information(client, new_lender, db_session):
    me, other = new_lender("me"), new_lender("other")
    report(client, other, rec("P", day(100), days_past_due=75, amount_past_due=10_000))
    result = ask(client, me)
    assert result["tradelines"][0]["stale"]
    assert result["summary"]["amount_past_due"] == {"CNY": 10_000}
    assert codes(result) == ["PAST_DUE_ELSEWHERE", "PAST_DUE_HISTORY"]


# --- MULTI_LENDER: balances, not accounts ---------------------------------------------------


def test_an_undrawn_line_is_an_account_not_a_debt(client, new_lender):
    me = new_lender("me")
    report(client, new_lender("la"), rec("A", day(1)))
    report(client, new_lender("lb"), rec("B", day(1)))
    line = {"product": "credit_line", "credit_limit": 300_000, "due_on": None}
    report(client, new_lender("lc"), rec("C", day(1), outstanding=0, **line))
    result = ask(client, me)
    assert result["summary"]["lenders_with_open_loans"] == 3
    assert "MULTI_LENDER" not in codes(result)
    report(client, new_lender("ld"), rec("D", day(1), outstanding=1, **line))
    result = ask(client, me)
    assert "MULTI_LENDER" in codes(result)
    assert detail(result, "MULTI_LENDER").startswith("3 lenders have open loans with something")


# --- debt burden ----------------------------------------------------------------------------


def test_monthly_obligations_are_exact_and_rounded_once(client, new_lender):
    me, other = new_lender("me"), new_lender("other")
    report(
        client,
        other,
        # 1 x 52/12 twice: 8.666..., rounded once to 9 (rounding each would give 8)
        rec("W1", day(1), scheduled_payment=1, payment_frequency="weekly"),
        rec("W2", day(1), scheduled_payment=1, payment_frequency="weekly"),
        # 1_000 x 26/12 = 2_166.666...; + 3_000 monthly; + 5_000 single (in full)
        rec("B1", day(1), scheduled_payment=1_000, payment_frequency="biweekly"),
        rec("M1", day(1), scheduled_payment=3_000, payment_frequency="monthly"),
        rec("S1", day(1), scheduled_payment=5_000, payment_frequency="single"),
        # USD: 7 x 52/12 = 30.333... -> 30
        rec("U1", day(1), currency="USD", scheduled_payment=7, payment_frequency="weekly"),
        # closed loans owe nothing
        rec(
            "X1",
            day(1),
            status="closed",
            outstanding=0,
            scheduled_payment=9_999,
            payment_frequency="monthly",
        ),
        rec("N1", day(1)),  # an open loan without a schedule: 0
    )
    summary = ask(client, me)["summary"]
    # CNY: 8.666... + 2166.666... + 3000 + 5000 = 10175.333... -> 10175
    assert summary["monthly_obligations"] == {"CNY": 10_175, "USD": 30}


@pytest.mark.parametrize(
    "drawn, expected, flagged", [(8_999, "0.8999", False), (9_000, "0.9000", True)]
)
def test_utilisation_and_high_utilisation_at_its_edge(client, new_lender, drawn, expected, flagged):
    me, a, b = new_lender("me"), new_lender("la"), new_lender("lb")
    line = {"product": "credit_line", "due_on": None}
    report(client, a, rec("A", day(1), credit_limit=6_000, outstanding=drawn - 3_000, **line))
    report(client, b, rec("B", day(1), credit_limit=4_000, outstanding=3_000, **line))
    # An instalment loan is no revolving line.
    report(client, b, rec("I", day(1), credit_limit=1_000_000, outstanding=1))
    result = ask(client, me)
    assert result["summary"]["credit_limit"] == {"CNY": 10_000}
    assert result["summary"]["utilisation"] == {"CNY": expected}
    assert ("HIGH_UTILISATION" in codes(result)) is flagged
    if flagged:
        assert "90.00% drawn" in detail(result, "HIGH_UTILISATION")


def test_utilisation_rounds_half_up_to_four_decimals(client, new_lender):
    me, other = new_lender("me"), new_lender("other")
    line = {"product": "credit_line", "due_on": None}
    report(
        client,
        other,
        rec("A", day(1), credit_limit=3, outstanding=2, **line),  # 0.66666...
        rec("U", day(1), currency="USD", credit_limit=20_000, outstanding=1, **line),  # 0.00005
    )
    assert ask(client, me)["summary"]["utilisation"] == {"CNY": "0.6667", "USD": "0.0001"}


def test_amount_past_due_and_outstanding_with_request(client, new_lender):
    me, other = new_lender("me"), new_lender("other")
    report(
        client,
        other,
        rec("A", day(1), outstanding=100_000, days_past_due=5, amount_past_due=2_500),
        rec("B", day(1), outstanding=50_000),
        rec("U", day(1), currency="USD", outstanding=700),
    )
    result = ask(client, me, amount_requested=30_000, currency="EUR")
    summary = result["summary"]
    assert summary["amount_past_due"] == {"CNY": 2_500, "USD": 0}
    assert summary["outstanding_with_request"] == {"CNY": 150_000, "EUR": 30_000, "USD": 700}
    again = ask(client, me, amount_requested=1, currency="CNY")["summary"]
    assert again["outstanding_with_request"] == {"CNY": 150_001, "USD": 700}
    assert ask(client, me)["summary"]["outstanding_with_request"] is None


# --- velocity ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "opened_days_ago, counts",
    [
        (30, (1, 1, 1)),
        (31, (0, 1, 1)),
        (90, (0, 1, 1)),
        (91, (0, 0, 1)),
        (180, (0, 0, 1)),
        (181, (0, 0, 0)),
    ],
)
def test_lenders_opened_windows_at_their_boundaries(client, new_lender, opened_days_ago, counts):
    me, other = new_lender("me"), new_lender("other")
    opened = day(opened_days_ago)
    report(client, other, rec("O1", day(0), opened_on=opened), rec("O2", day(0), opened_on=opened))
    summary = ask(client, me)["summary"]
    assert (
        summary["lenders_opened_30d"],
        summary["lenders_opened_90d"],
        summary["lenders_opened_180d"],
    ) == counts


@pytest.mark.parametrize("closed_days_ago, counted", [(90, True), (91, False)])
def test_loans_closed_window_boundary(client, new_lender, closed_days_ago, counted):
    me, other = new_lender("me"), new_lender("other")
    closed = day(closed_days_ago)
    report(client, other, rec("C", closed, status="closed", outstanding=0, closed_on=closed))
    assert ask(client, me)["summary"]["loans_closed_90d"] == int(counted)


# --- LOAN_CYCLING -----------------------------------------------------------------------------


def _cycle(client: Any, new_lender: Any, opened_ago: int, gap: int, name: str) -> None:
    """Lender new{name} opens a loan `opened_ago` days ago; lender old{name}'s loan closes
    `gap` days after that."""
    opened = day(opened_ago)
    closed = day(opened_ago - gap)
    report(client, new_lender(f"new{name}"), rec(f"N{name}", day(0), opened_on=opened))
    report(
        client,
        new_lender(f"old{name}"),
        rec(f"O{name}", closed, opened_on="2026-01-05", status="closed", closed_on=closed),
    )


@pytest.mark.parametrize("gap, cycles", [(-1, 0), (0, 1), (7, 1), (8, 0)])
def test_loan_cycling_gap_boundary(client, new_lender, db_session, gap, cycles):
    me = new_lender("me")
    set_policy(db_session, "LOAN_CYCLING", 1)
    _cycle(client, new_lender, 40, gap, "x")
    result = ask(client, me)
    assert ("LOAN_CYCLING" in codes(result)) is bool(cycles)
    if cycles:
        assert detail(result, "LOAN_CYCLING").startswith("1 loan(s) closed in the last 90 days")


@pytest.mark.parametrize("closed_days_ago, flagged", [(90, True), (91, False)])
def test_loan_cycling_window_boundary(client, new_lender, db_session, closed_days_ago, flagged):
    me = new_lender("me")
    set_policy(db_session, "LOAN_CYCLING", 1)
    _cycle(client, new_lender, closed_days_ago + 2, 2, "x")
    assert ("LOAN_CYCLING" in codes(ask(client, me))) is flagged


@pytest.mark.parametrize("pairs, flagged", [(1, False), (2, True)])
def test_loan_cycling_threshold_edge(client, new_lender, pairs, flagged):
    me = new_lender("me")
    for i in range(pairs):
        _cycle(client, new_lender, 30 + i * 20, 3, str(i))
    assert ("LOAN_CYCLING" in codes(ask(client, me))) is flagged


def test_a_repeat_loan_at_the_same_lender_is_no_cycling(client, new_lender, db_session):
    me, same = new_lender("me"), new_lender("same")
    set_policy(db_session, "LOAN_CYCLING", 1)
    closed = day(10)
    report(
        client,
        same,
        rec("R1", closed, opened_on="2026-08-01", status="closed", closed_on=closed),
        rec("R2", day(0), opened_on=day(12)),
    )
    assert "LOAN_CYCLING" not in codes(ask(client, me))


# --- PAST_DUE_HISTORY -------------------------------------------------------------------------


@pytest.mark.parametrize("worst, flagged", [(59, False), (60, True)])
def test_past_due_history_threshold_edge_even_when_cured(client, new_lender, worst, flagged):
    me, other = new_lender("me"), new_lender("other")
    report(
        client,
        other,
        rec("P", day(40), days_past_due=worst, amount_past_due=1),
        rec("P", day(1)),  # current again
    )
    result = ask(client, me)
    assert result["summary"]["max_days_past_due"] == 0
    assert result["summary"]["worst_days_past_due_24m"] == worst
    assert ("PAST_DUE_HISTORY" in codes(result)) is flagged
    if flagged:
        assert detail(result, "PAST_DUE_HISTORY").startswith(
            "worst days past due in the last 24 months: 60"
        )


@pytest.mark.parametrize(
    "month, in_12m, in_24m",
    [
        ("2025-12-01", True, True),
        ("2025-11-30", False, True),
        ("2024-12-01", False, True),
        ("2024-11-30", False, False),
    ],
)
def test_12_and_24_month_windows_are_calendar_months(client, new_lender, month, in_12m, in_24m):
    me, other = new_lender("me"), new_lender("other")
    report(
        client,
        other,
        rec("P", month, opened_on="2024-01-01", days_past_due=61, amount_past_due=1),
        rec("P", day(1), opened_on="2024-01-01"),
    )
    summary = ask(client, me)["summary"]
    assert summary["worst_days_past_due_12m"] == (61 if in_12m else 0)
    assert summary["worst_days_past_due_24m"] == (61 if in_24m else 0)
    assert summary["last_delinquent_on"] == month


# --- the recorded report ----------------------------------------------------------------------


def test_the_recorded_report_carries_the_tradelines(client, new_lender, db_session):
    from sqlalchemy import select

    from registry.models import Inquiry

    me, other = new_lender("me"), new_lender("other")
    report(client, other, rec("A", day(1)))
    answer = ask(client, me)
    recorded = db_session.scalar(select(Inquiry.report))
    db_session.rollback()
    assert recorded["tradelines"] == answer["tradelines"]
    assert recorded["summary"] == answer["summary"]


def test_openapi_names_the_tradeline_fields(client):
    schemas = client.get("/openapi.json").get_json()["components"]["schemas"]
    tradeline = schemas["TradelineOut"]["properties"]
    assert set(tradeline) == {
        "lender", "own", "product", "currency", "credit_limit", "outstanding",
        "amount_past_due", "days_past_due", "status", "special_event", "opened_month",
        "closed_month", "last_reported_on", "age_days", "stale", "status_24m",
        "provisional_until", "disputed",
    }  # fmt: skip
    summary = schemas["SummaryOut"]["properties"]
    assert {"worst_days_past_due_12m", "utilisation", "stale_open_loans"} <= set(summary)
