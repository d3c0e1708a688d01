"""Retention's rules as pure functions (`registry.services.retention`): each kind's retention
end at its boundary (the day before, the day, the day after), month ends, and the read-time
rule on a report's loan rows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from registry.services.policy import Policy
from registry.services.report.book import LoanRow, Month
from registry.services.retention import (
    LoanFacts,
    brought_current_on,
    first_kept_day,
    needs_history,
    negative_event_end,
    past_retention,
    phone_retained,
    record_retained,
    retained,
    retention_end,
    shift_months,
)

TODAY = date(2026, 11, 25)
DAY = timedelta(days=1)


def facts(**fields: Any) -> LoanFacts:
    values: dict[str, Any] = {
        "status": "closed",
        "closed_on": date(2021, 11, 25),
        "last_reported_on": date(2021, 11, 25),
        "days_past_due": 0,
        "written_off_on": None,
        "negative": False,
        "brought_current_on": None,
    }
    values.update(fields)
    return LoanFacts(**values)


def kept_around(loan: LoanFacts, last_day: date, months: int = 60) -> list[bool]:
    """Whether the loan is kept the day before, on and the day after `last_day`."""
    return [not past_retention(loan, last_day + n * DAY, months) for n in (-1, 0, 1)]


def test_an_open_loan_is_kept_whatever_its_history():
    loan = facts(status="open", closed_on=None, negative=True, brought_current_on=date(2001, 1, 1))
    assert retention_end(loan, 60) is None and not past_retention(loan, date(2099, 1, 1), 1)


@pytest.mark.parametrize("months", [60, 12, 1])
def test_a_clean_closed_loan_is_kept_retention_closed_months_after_closing(months):
    closed = shift_months(TODAY, -months)
    loan = facts(closed_on=closed)
    assert retention_end(loan, months) == TODAY
    assert kept_around(loan, TODAY, months) == [True, True, False]


def test_a_written_off_loan_is_kept_5_years_after_the_write_off_repaid_or_not():
    written_off = date(2021, 11, 25)
    for status in ("written_off", "closed"):  # closed: repaid after the write-off, in 2024
        loan = facts(
            status=status,
            closed_on=written_off if status == "written_off" else date(2024, 3, 1),
            written_off_on=written_off,
            negative=True,
        )
        assert negative_event_end(loan) == written_off
        assert kept_around(loan, TODAY) == [True, True, False]


def test_a_loan_closed_as_it_was_brought_current_is_kept_5_years_after_closing():
    loan = facts(
        negative=True, brought_current_on=date(2021, 11, 30), closed_on=TODAY.replace(2021)
    )
    assert negative_event_end(loan) == date(2021, 11, 25)  # the closing came first
    assert kept_around(loan, TODAY) == [True, True, False]


def test_a_loan_brought_current_long_before_closing_goes_5_years_after_that():
    loan = facts(negative=True, brought_current_on=date(2021, 11, 25), closed_on=date(2025, 6, 30))
    assert retention_end(loan, 60) == TODAY  # not 2030: negative information goes first
    assert kept_around(loan, TODAY) == [True, True, False]
    clean = facts(closed_on=date(2025, 6, 30))
    assert retention_end(clean, 60) == date(2030, 6, 30)


def test_retention_ends_at_month_ends_like_calendar_months():
    assert shift_months(date(2021, 2, 28), 60) == date(2026, 2, 28)
    assert shift_months(date(2020, 2, 29), 60) == date(2025, 2, 28)
    assert shift_months(date(2021, 3, 31), 1) == date(2021, 4, 30)
    leap = facts(status="written_off", written_off_on=date(2020, 2, 29), negative=True)
    assert kept_around(leap, date(2025, 2, 28)) == [True, True, False]


@pytest.mark.parametrize(
    "today, months, first",
    [
        (date(2026, 11, 25), 24, date(2024, 11, 25)),
        (date(2026, 3, 1), 24, date(2024, 3, 1)),  # 2024-02-29 + 24 months = 2026-02-28
        (date(2026, 2, 28), 24, date(2024, 2, 28)),
        (date(2028, 2, 29), 24, date(2026, 3, 1)),  # 2026-02-28 + 24 months = 2028-02-28
        (date(2026, 3, 31), 1, date(2026, 3, 1)),  # 2026-02-28 + 1 month = 2026-03-28
        (date(2026, 4, 30), 1, date(2026, 3, 30)),  # 03-31 + 1 month = 04-30 too
    ],
)
def test_first_kept_day_is_the_exact_edge(today, months, first):
    assert first_kept_day(today, months) == first
    assert shift_months(first, months) >= today > shift_months(first - DAY, months)


@pytest.mark.parametrize(
    "made_at, kept",
    [
        (datetime(2024, 11, 24, 23, 59, 59, tzinfo=UTC), False),  # the day before
        (datetime(2024, 11, 25, 0, 0, tzinfo=UTC), True),  # the day, 2 years on
        (datetime(2024, 11, 25, 23, 59, tzinfo=UTC), True),
        (datetime(2024, 11, 26, 0, 0, tzinfo=UTC), True),  # the day after
    ],
)
def test_inquiries_and_outcomes_are_kept_2_years_to_the_day(made_at, kept):
    assert record_retained(made_at, datetime(2026, 11, 25, 23, 59, tzinfo=UTC)) is kept
    assert record_retained(made_at, datetime(2026, 11, 26, 0, 0, tzinfo=UTC)) is (
        made_at.date() >= date(2024, 11, 26)
    )


def test_phone_sightings_are_90_day_signals():
    now = datetime(2026, 11, 25, 12, tzinfo=UTC)
    edge = now - timedelta(days=90)
    assert phone_retained(edge, now) and phone_retained(edge + DAY, now)
    assert not phone_retained(edge - timedelta(seconds=1), now)


def test_brought_current_is_the_first_current_report_after_the_last_past_due_one():
    at = [datetime(2021, 9, d, 12, tzinfo=UTC) for d in (1, 5, 10, 15, 20)]
    assert brought_current_on(list(zip(at, [0, 30, 0, 45, 0], strict=True))) == date(2021, 9, 20)
    assert brought_current_on(list(zip(at, [0, 30, 0, 0, 0], strict=True))) == date(2021, 9, 10)
    assert brought_current_on(list(zip(at, [0, 0, 0, 0, 30], strict=True))) is None
    assert brought_current_on(list(zip(at, [0, 0, 0, 0, 0], strict=True))) is None


# --- the read-time rule on a report's rows ---------------------------------------------------


def row(**fields: Any) -> LoanRow:
    values: dict[str, Any] = {
        "lender_id": 1,
        "loan_ref": "L",
        "product": "cash_loan",
        "currency": "CNY",
        "credit_limit": 1000,
        "outstanding": 0,
        "amount_past_due": 0,
        "days_past_due": 0,
        "status": "closed",
        "special_event": None,
        "opened_on": date(2020, 1, 1),
        "closed_on": date(2025, 6, 30),
        "as_of": datetime(2025, 6, 30, 12, tzinfo=UTC),
        "scheduled_payment": None,
        "payment_frequency": None,
        "written_off_amount": None,
        "written_off_on": None,
        "exited_at": None,
    }
    values.update(fields)
    return LoanRow(**values)


def test_a_report_takes_the_last_past_due_day_unless_told_when_it_was_brought_current():
    last_past_due = date(2021, 10, 26)
    loan = row(months={date(2021, 10, 1): Month("1", 30, last_past_due)})
    now, policy = datetime(2026, 11, 25, 12, tzinfo=UTC), Policy.defaults()
    # From the months alone, 5 years after 2021-10-26 are over: hidden...
    assert not retained(loan, now, policy)
    # ...which the months cannot tell for sure: the history says when it was brought current.
    assert needs_history(loan, now.date(), 60)
    assert retained(loan, now, policy, brought_current=date(2021, 11, 25))
    assert not retained(loan, now + DAY, policy, brought_current=date(2021, 11, 25))
    # Within 5 years of the last past-due day, the months are enough.
    assert not needs_history(loan, date(2026, 10, 26), 60)
    assert retained(loan, datetime(2026, 10, 26, tzinfo=UTC), policy)


def test_a_clean_loan_at_read_time_follows_retention_closed_months():
    loan = row(closed_on=date(2025, 11, 25))
    policy = Policy({}, settings={"retention_closed_months": 12})
    assert retained(loan, datetime(2026, 11, 25, 23, tzinfo=UTC), policy)
    assert not retained(loan, datetime(2026, 11, 26, tzinfo=UTC), policy)
    assert retained(loan, datetime(2026, 11, 26, tzinfo=UTC), Policy.defaults())


def test_a_provisional_loan_is_never_removed_by_retention():
    loan = row(status="provisional", closed_on=None, as_of=datetime(2001, 1, 1, tzinfo=UTC))
    assert retained(loan, datetime(2026, 11, 25, tzinfo=UTC), Policy.defaults())
