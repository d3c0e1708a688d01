"""Retention: how long the registry keeps what it holds, as pure rules.

Legal basis: 征信业管理条例 art. 16 keeps negative information 5 years from the day the
negative event ended, and no longer; FCRA §605 bounds what a report may carry in the same way.

A loan's *retention end* is the last day it is kept (the run removes it from the day after):
- an open loan is kept while it is open (it is live, and its lender reports it);
- a loan with negative history (written off, or past due in any report) is kept 5 years
  (60 months) after the negative event ended: the write-off date for a written-off loan
  (repaid later or not); else the day it was brought current (the first report after its
  last past-due report with 0 days past due) or the day it closed, whichever came first;
- a closed loan without negative history is kept `retention_closed_months` (policy, 60)
  after its closing date (`closed_on`; the latest report's date if it has none).
Months are calendar months: the same day of the month, clipped to the month's last day.

Inquiries and application outcomes (which belong to their inquiry) are kept 2 years after
the inquiry, to the day: one made on 2024-11-25 goes on 2026-11-26. Phone sightings are
90-day signals: kept while seen in the last 90 days and while their borrower has anything
else on file.

Reports apply the same rules when they read (`retained`), so nothing the run would remove is
ever shown, even before the run. A report reads each loan's stored months, not its history,
and the months do not say when a loan was brought current; only for a loan whose retention
they leave open (`needs_history`: a few days from its end) is its history read for that day.

`registry.services.retention_run` removes what is past retention (`registry retention run`).
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from registry.services.policy import RETENTION_CLOSED_MONTHS, Policy, spec_for
from registry.services.report.book import LoanRow

NEGATIVE_RETENTION_MONTHS = 60  # art. 16: 5 years from the end of the negative event
RECORD_RETENTION_MONTHS = 24  # inquiries and application outcomes: 2 years
PHONE_SIGNAL_DAYS = 90
DEFAULT_RETENTION_CLOSED_MONTHS = spec_for(RETENTION_CLOSED_MONTHS).default
ENDED_STATUSES = frozenset({"closed", "written_off"})
# The 24-month string's characters that say "past due" (1-7) or "written off" (W).
NEGATIVE_MONTH_STATUSES = frozenset("1234567W")


def shift_months(day: date, months: int) -> date:
    """The same day of the month `months` months later (earlier if negative), clipped to the
    month's last day (31 March + 1 month = 30 April)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def first_kept_day(today: date, months: int) -> date:
    """The earliest day whose retention of `months` months has not ended at `today`: anything
    that ended (or was made) before it is past retention. `shift_months` clips at month ends,
    so the answer is searched next to the plain backward shift rather than taken from it."""
    day = shift_months(today, -months)
    while shift_months(day - timedelta(days=1), months) >= today:
        day -= timedelta(days=1)
    while shift_months(day, months) < today:
        day += timedelta(days=1)
    return day


@dataclass(frozen=True)
class LoanFacts:
    """What a loan's retention depends on."""

    status: str
    closed_on: date | None
    last_reported_on: date  # the latest report's (as_of) UTC date
    days_past_due: int  # in the latest report
    written_off_on: date | None
    negative: bool  # written off, or past due in any report
    # The day the loan was brought current after its last past-due report: exact when read
    # from its history (the run), the last past-due day itself when read from months.
    brought_current_on: date | None


def negative_event_end(facts: LoanFacts) -> date | None:
    """The day the loan's negative event ended; None if it has none, or it has not ended."""
    if not facts.negative or facts.status not in ENDED_STATUSES:
        return None
    ended = facts.closed_on or facts.last_reported_on
    if facts.written_off_on is not None:
        return facts.written_off_on
    if facts.status == "written_off" or facts.days_past_due > 0:
        return ended  # written off without a recorded date, or closed while past due
    if facts.brought_current_on is not None:
        return min(facts.brought_current_on, ended)
    return ended


def retention_end(facts: LoanFacts, retention_closed_months: int) -> date | None:
    """The last day the loan is kept; None while it is open (or provisional: a report's
    approved application, which expires on its own)."""
    if facts.status not in ENDED_STATUSES:
        return None
    event_end = negative_event_end(facts)
    if event_end is not None:
        return shift_months(event_end, NEGATIVE_RETENTION_MONTHS)
    return shift_months(facts.closed_on or facts.last_reported_on, retention_closed_months)


def past_retention(facts: LoanFacts, today: date, retention_closed_months: int) -> bool:
    end = retention_end(facts, retention_closed_months)
    return end is not None and today > end


def brought_current_on(reports: Sequence[tuple[datetime, int]]) -> date | None:
    """The day of the first report with 0 days past due after the last past-due one, from a
    loan's reports (as_of, days past due) in time order; None if there is none."""
    last_past_due = max((i for i, (_, dpd) in enumerate(reports) if dpd > 0), default=None)
    if last_past_due is None:
        return None
    return next((at.date() for at, dpd in reports[last_past_due + 1 :] if dpd == 0), None)


def row_facts(loan: LoanRow, brought_current: date | None = None) -> LoanFacts:
    """A report's loan (current state and stored months) as retention facts. The months do not
    say when a loan was brought current: without `brought_current` (read from its history),
    its last past-due day stands in, which is never later."""
    past_due_days = [m.last_delinquent_on for m in loan.months.values() if m.last_delinquent_on]
    negative = (
        loan.status == "written_off"
        or loan.written_off_on is not None
        or loan.days_past_due > 0
        or any(
            m.worst_days_past_due > 0 or m.status in NEGATIVE_MONTH_STATUSES
            for m in loan.months.values()
        )
    )
    if brought_current is None and past_due_days:
        brought_current = max(past_due_days)
    return LoanFacts(
        status=loan.status,
        closed_on=loan.closed_on,
        last_reported_on=loan.as_of.date(),
        days_past_due=loan.days_past_due,
        written_off_on=loan.written_off_on,
        negative=negative,
        brought_current_on=brought_current,
    )


def cured(facts: LoanFacts) -> bool:
    """An ended loan whose negative event ended when it was brought current (or closed): the
    one case where the day it was brought current matters."""
    return (
        facts.negative
        and facts.status == "closed"
        and facts.written_off_on is None
        and facts.days_past_due == 0
    )


def needs_history(loan: LoanRow, today: date, retention_closed_months: int) -> bool:
    """Whether the months alone cannot tell if `loan` is retained at `today`: past retention
    counted from its last past-due day, but within it counted from its closing (the latest
    the negative event can have ended). Rare: such a loan is a few days from removal."""
    facts = row_facts(loan)
    if not cured(facts) or not past_retention(facts, today, retention_closed_months):
        return False
    latest = replace(facts, brought_current_on=None)
    return not past_retention(latest, today, retention_closed_months)


def retained(
    loan: LoanRow, now: datetime, policy: Policy, brought_current: date | None = None
) -> bool:
    """Whether a report may still show `loan` at `now` (the read-time rule); give the day it
    was brought current where `needs_history` says the months cannot tell."""
    return loan_retained(loan, now.date(), policy.retention_closed_months, brought_current)


def loan_retained(
    loan: LoanRow,
    today: date,
    retention_closed_months: int,
    brought_current: date | None = None,
) -> bool:
    """`retained`, for callers that hold the policy's setting rather than the policy."""
    facts = row_facts(loan, brought_current)
    return not past_retention(facts, today, retention_closed_months)


def record_retained(made_at: datetime, now: datetime) -> bool:
    """Whether an inquiry (or its application outcome) made at `made_at` is still kept."""
    return made_at.date() >= first_kept_day(now.date(), RECORD_RETENTION_MONTHS)


def phone_retained(last_seen_at: datetime, now: datetime) -> bool:
    """Whether a phone sighting is still a signal (seen in the last 90 days)."""
    return last_seen_at >= now - timedelta(days=PHONE_SIGNAL_DAYS)


def run_retention(session: Session, now: datetime, **options: Any) -> dict[str, int]:
    """Remove what is past retention at `now`: `registry.services.retention_run`'s run (kept
    in its own module; named here beside the rules it applies)."""
    from registry.services.retention_run import run_retention as run

    return run(session, now, **options)
