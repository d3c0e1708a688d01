"""Each loan's worst reported state per calendar month (`loan_months`), derived at ingest.

Every accepted report, and every unchanged report with a newer `as_of` (a report in a new
month is a report in that month), counts towards the month of its `as_of` date (UTC):
the month's character is the worst of its reports (`registry_protocol.payment_status`), its
`worst_days_past_due` the highest, its `last_delinquent_on` the latest date past due. A
batch's months are gathered in memory and merged into the stored rows with one upsert whose
conflict clause takes the worse of the stored and the new value, so the statement count does
not grow with the batch. A correction recomputes its month from the loan's history rows in
that month and replaces the stored row (a second upsert, only in batches with corrections).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, case, literal_column
from sqlalchemy.orm import Session

from registry.models import LoanMonth
from registry.services.bulk import insert_rows
from registry_protocol.payment_status import SEVERITY, month_of, month_status, worse

# (borrower, loan_ref, first day of the month) within one lender's batch.
MonthKey = tuple[bytes, str, date]


@dataclass
class MonthRow:
    status: str = "N"
    worst_days_past_due: int = 0
    last_delinquent_on: date | None = None

    def add(self, status: str, days_past_due: int, day: date) -> None:
        """Count one report of `status` with `days_past_due` dated `day`."""
        self.status = worse(self.status, month_status(status, days_past_due))
        self.worst_days_past_due = max(self.worst_days_past_due, days_past_due)
        if days_past_due > 0 and (self.last_delinquent_on is None or day > self.last_delinquent_on):
            self.last_delinquent_on = day


class Months:
    """The month rows one batch touches, merged in memory before one statement writes them."""

    def __init__(self) -> None:
        self.merged: dict[MonthKey, MonthRow] = {}
        self.recomputed: dict[MonthKey, MonthRow] = {}

    def report(
        self, borrower: bytes, loan_ref: str, as_of: datetime, status: str, dpd: int
    ) -> None:
        """A report (accepted, or unchanged with a newer as_of) counts towards its month."""
        day = as_of.date()
        key = (borrower, loan_ref, month_of(day))
        self.merged.setdefault(key, MonthRow()).add(str(status), dpd, day)

    def recompute(
        self, borrower: bytes, loan_ref: str, month: date, history: Iterable[dict[str, Any]]
    ) -> None:
        """A corrected month: its row again, from the loan's history rows in that month."""
        row = MonthRow()
        for entry in history:
            day = entry["as_of"].date()
            if month_of(day) == month:
                row.add(str(entry["status"]), entry["days_past_due"], day)
        self.recomputed[(borrower, loan_ref, month)] = row

    def write(self, session: Session, lender_id: int) -> None:
        """One upsert merging the batch's months into the stored ones (the worse wins), and
        one replacing the corrected months. None for a batch that touched no month."""
        table = LoanMonth.__table__
        insert_rows(session, table, _rows(lender_id, self.merged), _merge)  # type: ignore[arg-type]
        recomputed = {key: row for key, row in self.recomputed.items() if row.status != "N"}
        insert_rows(session, table, _rows(lender_id, recomputed), _replace)  # type: ignore[arg-type]


def _rows(lender_id: int, months: dict[MonthKey, MonthRow]) -> list[dict[str, Any]]:
    return [
        {
            "borrower": borrower,
            "lender_id": lender_id,
            "loan_ref": loan_ref,
            "month": month,
            "status": row.status,
            "worst_days_past_due": row.worst_days_past_due,
            "last_delinquent_on": row.last_delinquent_on,
        }
        for (borrower, loan_ref, month), row in months.items()
    ]


_KEY = ["borrower", "lender_id", "loan_ref", "month"]


def _rank(column: Any) -> ColumnElement[int]:
    # Literals written into the SQL, not bound: bound, the 20 constants of each of the two
    # CASEs were 40 parameters for the driver to process on every row of the batch.
    return case(
        {literal_column(f"'{c}'"): literal_column(str(rank)) for rank, c in enumerate(SEVERITY)},
        value=column,
    )


def _merge(statement: Any) -> Any:
    new, stored = statement.excluded, LoanMonth.__table__.c
    return statement.on_conflict_do_update(
        index_elements=_KEY,
        set_={
            "status": case(
                (_rank(new.status) >= _rank(stored.status), new.status), else_=stored.status
            ),
            "worst_days_past_due": case(
                (
                    new.worst_days_past_due > stored.worst_days_past_due,
                    new.worst_days_past_due,
                ),
                else_=stored.worst_days_past_due,
            ),
            "last_delinquent_on": case(
                (stored.last_delinquent_on.is_(None), new.last_delinquent_on),
                (new.last_delinquent_on.is_(None), stored.last_delinquent_on),
                (new.last_delinquent_on > stored.last_delinquent_on, new.last_delinquent_on),
                else_=stored.last_delinquent_on,
            ),
        },
    )


def _replace(statement: Any) -> Any:
    return statement.on_conflict_do_update(
        index_elements=_KEY,
        set_={
            name: statement.excluded[name]
            for name in ("status", "worst_days_past_due", "last_delinquent_on")
        },
    )
