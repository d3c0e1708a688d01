"""Which loans may be past retention, and the facts `registry.services.retention` decides
it from, read for one batch of the retention run (`retention_run`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, func, literal, select, tuple_
from sqlalchemy.orm import Session

from registry.models import Loan, LoanHistory, LoanMonth
from registry.services.report.book import LoanRow
from registry.services.retention import (
    NEGATIVE_MONTH_STATUSES,
    LoanFacts,
    brought_current_on,
    cured,
    needs_history,
)

LoanKey = tuple[bytes, int, str]  # (borrower, lender_id, loan_ref)


def loan_key(model: Any) -> Any:
    """The loan's key columns of a table keyed by loan, as one tuple for IN and comparisons."""
    return tuple_(model.borrower, model.lender_id, model.loan_ref)


def candidates(
    after: LoanKey | None, limit: int, closed_cutoff: date, negative_cutoff: date
) -> Select[Any]:
    """Closed loans that may be past retention, in key order: a superset that the exact rule
    then decides. The negative event of a loan never ends before its last past-due day, nor
    after its closing date, so a loan whose every date is recent enough is not read at all."""
    last_past_due = (
        select(func.max(LoanMonth.last_delinquent_on))
        .where(
            LoanMonth.borrower == Loan.borrower,
            LoanMonth.lender_id == Loan.lender_id,
            LoanMonth.loan_ref == Loan.loan_ref,
        )
        .scalar_subquery()
    )
    statement = (
        select(Loan.borrower, Loan.lender_id, Loan.loan_ref)
        .where(
            Loan.status != "open",
            Loan.closed_on.is_(None)
            | (Loan.closed_on < max(closed_cutoff, negative_cutoff))
            | (Loan.written_off_on < negative_cutoff)
            | (last_past_due < negative_cutoff),
        )
        .order_by(Loan.borrower, Loan.lender_id, Loan.loan_ref)
        .limit(limit)
    )
    if after is not None:
        statement = statement.where(loan_key(Loan) > tuple_(*map(literal, after)))
    return statement


def loan_facts(session: Session, keys: Sequence[LoanKey]) -> dict[LoanKey, LoanFacts]:
    """Each loan's retention facts from its current state, its months and, for a loan brought
    current, its history (the day of the first report after its last past-due one)."""
    wanted = set(keys)
    borrowers = {key[0] for key in keys}
    current = session.execute(
        select(
            Loan.borrower,
            Loan.lender_id,
            Loan.loan_ref,
            Loan.status,
            Loan.closed_on,
            Loan.as_of,
            Loan.days_past_due,
            Loan.written_off_on,
        ).where(loan_key(Loan).in_(keys))
    ).tuples()
    negative: set[LoanKey] = set()
    for borrower, lender_id, loan_ref, status, worst, _ in session.execute(
        select(
            LoanMonth.borrower,
            LoanMonth.lender_id,
            LoanMonth.loan_ref,
            LoanMonth.status,
            LoanMonth.worst_days_past_due,
            LoanMonth.last_delinquent_on,
        ).where(LoanMonth.borrower.in_(borrowers))
    ).tuples():
        key = (borrower, lender_id, loan_ref)
        if key in wanted and (worst > 0 or status in NEGATIVE_MONTH_STATUSES):
            negative.add(key)
    facts: dict[LoanKey, LoanFacts] = {}
    for borrower, lender_id, loan_ref, status, closed_on, as_of, dpd, written_off_on in current:
        key = (borrower, lender_id, loan_ref)
        is_negative = (
            key in negative or status == "written_off" or written_off_on is not None or dpd > 0
        )
        facts[key] = LoanFacts(
            status=status,
            closed_on=closed_on,
            last_reported_on=as_of.date(),
            days_past_due=dpd,
            written_off_on=written_off_on,
            negative=is_negative,
            brought_current_on=None,
        )
    to_read = [key for key, fact in facts.items() if cured(fact)]
    for key, day in _brought_current(session, to_read).items():
        facts[key] = LoanFacts(**{**asdict(facts[key]), "brought_current_on": day})
    return facts


def _brought_current(session: Session, keys: Sequence[LoanKey]) -> dict[LoanKey, date]:
    """The day each loan was brought current after its last past-due report (history)."""
    if not keys:
        return {}
    history: dict[LoanKey, list[tuple[datetime, int]]] = {}
    rows = session.execute(
        select(
            LoanHistory.borrower,
            LoanHistory.lender_id,
            LoanHistory.loan_ref,
            LoanHistory.as_of,
            LoanHistory.days_past_due,
        )
        .where(loan_key(LoanHistory).in_(keys))
        .order_by(LoanHistory.as_of)
    ).tuples()
    for borrower, lender_id, loan_ref, as_of, dpd in rows:
        history.setdefault((borrower, lender_id, loan_ref), []).append((as_of, dpd))
    found = {key: brought_current_on(reports) for key, reports in history.items()}
    return {key: day for key, day in found.items() if day is not None}


def brought_current_days(
    session: Session,
    borrower: bytes,
    loans: Iterable[LoanRow],
    now: datetime,
    retention_closed_months: int,
) -> dict[tuple[int, str], date]:
    """For a report: the day each of `borrower`'s loans whose retention its months leave open
    (`retention.needs_history`) was brought current, by (lender_id, loan_ref). No statement at
    all unless there is such a loan (almost never: a few days before the run removes it)."""
    today = now.date()
    keys = [
        (borrower, loan.lender_id, loan.loan_ref)
        for loan in loans
        if needs_history(loan, today, retention_closed_months)
    ]
    return {(key[1], key[2]): day for key, day in _brought_current(session, keys).items()}
