"""Corrections: a report with `"correction": true` replaces the stored history row of the same
loan with the same `as_of` (and the loan's current state, if that row was its newest).

The replaced row goes to `loan_corrections` (the audit trail, never shown in reports) and the
loan's month of that `as_of` is recomputed from its history rows in that month. Reading the
history of the corrected loans, updating the rows, writing the trail: three statements, and
only in a batch with corrections.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from registry.models import STATE_FIELDS, LoanCorrection, LoanHistory

NO_SUCH_REPORT = (
    "a correction replaces a stored report of this loan with exactly the same as_of; none was found"
)

# A history row as the batch sees it: the state fields, as_of, submission_id, recorded_at.
HistoryRow = dict[str, Any]


def load_history(
    session: Session, lender_id: int, loans: dict[str, bytes]
) -> dict[str, dict[datetime, HistoryRow]]:
    """Every history row of the named loans (loan_ref -> borrower), by loan_ref and as_of."""
    found: dict[str, dict[datetime, HistoryRow]] = {ref: {} for ref in loans}
    if not loans:
        return found
    columns = [getattr(LoanHistory, name) for name in STATE_FIELDS]
    rows = session.execute(
        select(
            LoanHistory.loan_ref,
            LoanHistory.as_of,
            LoanHistory.submission_id,
            LoanHistory.recorded_at,
            *columns,
        ).where(
            LoanHistory.borrower.in_(set(loans.values())),
            LoanHistory.lender_id == lender_id,
            LoanHistory.loan_ref.in_(loans.keys()),
        )
    )
    for ref, as_of, submission_id, recorded_at, *state in rows:
        row = dict(zip(STATE_FIELDS, state, strict=True))
        row.update(as_of=as_of, submission_id=submission_id, recorded_at=recorded_at)
        found[ref][as_of] = row
    return found


def _json(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


def replaced_state(row: HistoryRow) -> dict[str, Any]:
    """What the trail keeps of a replaced row: its state and when it had been recorded."""
    kept = {name: _json(row[name]) for name in STATE_FIELDS}
    kept["submission_id"] = row["submission_id"]
    kept["recorded_at"] = _json(row["recorded_at"])
    return kept


def write(
    session: Session,
    lender_id: int,
    updated: list[tuple[bytes, str, HistoryRow]],
    trail: list[dict[str, Any]],
) -> None:
    """Rewrite the corrected stored history rows and keep what they held."""
    if updated:
        session.execute(
            update(LoanHistory),
            [
                {
                    "borrower": borrower,
                    "lender_id": lender_id,
                    "loan_ref": ref,
                    "as_of": row["as_of"],
                    **{name: row[name] for name in STATE_FIELDS},
                    "submission_id": row["submission_id"],
                    "recorded_at": row["recorded_at"],
                }
                for borrower, ref, row in updated
            ],
        )
    if trail:
        session.execute(insert(LoanCorrection), trail)
