"""A lender's book for the fault tests: a CSV file of loans written by the test, the lender
made in the database, and a checksum over every field of every loan, computed alike from the
file and from what the registry stored, so that "the stored book equals the file" is one
comparison."""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from registry.db import make_engine, make_session_factory
from registry.models import Lender, Loan, LoanHistory, Submission
from registry.services import lenders

COLUMNS = (
    "loan_ref",
    "borrower",
    "product",
    "currency",
    "principal",
    "outstanding",
    "opened_on",
    "due_on",
    "status",
    "days_past_due",
    "as_of",
    "credit_limit",
    "amount_past_due",
    "closed_on",
)


def token(n: int) -> str:
    """Borrower ``n``'s token (a loan's borrower is ``n // 3``: borrowers hold several)."""
    return hashlib.sha256(f"faults-borrower-{n}".encode()).hexdigest()


def as_of_for(step: int = 0) -> datetime:
    """A state's time: a day ago (the registry refuses the future), later with each step."""
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    return base.replace(hour=0, minute=0, second=0) + timedelta(minutes=step)


def loan_row(i: int, step: int = 0, prefix: str = "F") -> dict[str, str]:
    """Loan ``i`` as of ``step``: open and current, past due, or closed, by ``i``; each step
    repays a little more."""
    when = as_of_for(step)
    opened = when.date() - timedelta(days=100 + i % 200)
    principal = 100_000 + (i % 97) * 1_000
    outstanding = max(principal - (i % 50) * 500 - step * 100, 1)
    row = {
        "loan_ref": f"{prefix}-{i:06d}",
        "borrower": token(i // 3),
        "product": "cash_loan",
        "currency": "CNY",
        "principal": str(principal),
        "outstanding": str(outstanding),
        "opened_on": opened.isoformat(),
        "due_on": (opened + timedelta(days=365)).isoformat(),
        "status": "open",
        "days_past_due": "0",
        "as_of": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "credit_limit": str(principal),
        "amount_past_due": "0",
        "closed_on": "",
    }
    if i % 10 == 3:  # closed: nothing left
        row.update(status="closed", outstanding="0", closed_on=when.date().isoformat())
    elif i % 7 == 1:  # past due
        row.update(days_past_due=str(1 + i % 60), amount_past_due=str(min(outstanding, 5_000)))
    return row


_INTEGERS = ("principal", "outstanding", "days_past_due", "credit_limit", "amount_past_due")


def as_record(row: dict[str, str]) -> dict[str, Any]:
    """A row of the file as the API takes it (numbers as numbers, an empty cell left out)."""
    return {
        name: int(value) if name in _INTEGERS else value for name, value in row.items() if value
    }


def write_book(path: Path, rows: Iterable[dict[str, str]]) -> int:
    count = 0
    with path.open("w", newline="") as out:
        writer = csv.DictWriter(out, COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
            count += 1
    return count


def read_book(path: Path) -> Iterator[dict[str, str]]:
    with path.open(newline="") as handle:
        yield from csv.DictReader(handle)


def book_line(values: dict[str, Any]) -> str:
    """One loan as one line: every field, in one spelling whatever its source."""

    def text(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, datetime):
            return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, bytes):
            return value.hex()
        return str(value)

    return "|".join(text(values[name]) for name in COLUMNS)


def checksum(lines: Iterable[str]) -> str:
    digest = hashlib.sha256()
    for line in sorted(lines):
        digest.update(line.encode() + b"\n")
    return digest.hexdigest()


def file_checksum(path: Path) -> tuple[int, str]:
    lines = [book_line(row) for row in read_book(path)]
    return len(lines), checksum(lines)


@dataclass(frozen=True)
class StoredBook:
    loans: int
    checksum: str
    history_rows: int
    #: Loans whose history rows do not end in the loan's current state.
    history_mismatches: int
    submissions: int
    accepted: int
    unchanged: int


def stored_book(database_url: str, lender_code: str) -> StoredBook:
    """What the registry holds for the lender, read straight from its database."""
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            lender_id = session.scalar(select(Lender.id).where(Lender.code == lender_code))
            loans = session.scalars(select(Loan).where(Loan.lender_id == lender_id)).all()
            lines = [book_line({name: getattr(loan, name) for name in COLUMNS}) for loan in loans]
            newest: dict[str, datetime] = {
                ref: when
                for ref, when in session.execute(
                    select(LoanHistory.loan_ref, func.max(LoanHistory.as_of))
                    .where(LoanHistory.lender_id == lender_id)
                    .group_by(LoanHistory.loan_ref)
                )
            }
            history_rows = session.scalar(
                select(func.count()).where(LoanHistory.lender_id == lender_id)
            )
            mismatches = len([loan for loan in loans if newest.get(loan.loan_ref) != loan.as_of])
            totals = session.execute(
                select(
                    func.count(),
                    func.coalesce(func.sum(Submission.accepted), 0),
                    func.coalesce(func.sum(Submission.unchanged), 0),
                ).where(Submission.lender_id == lender_id)
            ).one()
    finally:
        engine.dispose()
    return StoredBook(
        loans=len(loans),
        checksum=checksum(lines),
        history_rows=int(history_rows or 0),
        history_mismatches=mismatches,
        submissions=int(totals[0]),
        accepted=int(totals[1]),
        unchanged=int(totals[2]),
    )


def make_lender(database_url: str, code: str) -> str:
    """A new active lender; its API key."""
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            _lender, key = lenders.create_lender(session, code, code.title(), datetime.now(UTC))
            session.commit()
            return key.secret
    finally:
        engine.dispose()
