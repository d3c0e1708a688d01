"""Reading a lender's own loans (every query scoped to the calling lender), and the phone
tokens that loan reports and inquiries bring.

A phone token is a sighting: (borrower, phone) is written to `borrower_phones` and to
`phone_borrowers` (the same pair keyed the other way round), with the first and the latest
moment it was seen. Phone tokens are never read back by any answer; only the report's identity
counts use them (`report.identity`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Table, case, select
from sqlalchemy.orm import Session

from registry.db import upsert
from registry.models import BorrowerPhone, Loan, LoanRef, PhoneBorrower
from registry.schemas.loans import RejectedRecord
from registry.services.bulk import Conflict, insert_rows
from registry.services.errors import NotFound
from registry.services.fields import is_loan_ref
from registry.services.loan_report import LoanReport

DEFAULT_PAGE, MAX_PAGE = 100, 1000


def get_loan(session: Session, lender_id: int, loan_ref: str) -> Loan:
    """The caller's loan. Another lender's reference is simply not found."""
    if not is_loan_ref(loan_ref):
        raise NotFound("no loan with that loan_ref")
    borrower = session.scalar(
        select(LoanRef.borrower).where(LoanRef.lender_id == lender_id, LoanRef.loan_ref == loan_ref)
    )
    loan = None
    if borrower is not None:
        loan = session.get(Loan, (borrower, lender_id, loan_ref))
    if loan is None:
        raise NotFound(f"no loan with loan_ref {loan_ref!r}")
    return loan


def list_loans(
    session: Session, lender_id: int, status: str | None, after: str | None, limit: int
) -> tuple[list[Loan], str | None]:
    """One page of the caller's loans in loan_ref order, and the loan_ref to continue after."""
    query = select(Loan).where(Loan.lender_id == lender_id)
    if status is not None:
        query = query.where(Loan.status == status)
    if after is not None:
        query = query.where(Loan.loan_ref > after)
    loans = list(session.scalars(query.order_by(Loan.loan_ref).limit(limit + 1)))
    if len(loans) > limit:
        return loans[:limit], loans[limit - 1].loan_ref
    return loans, None


def _on_sighting_conflict(table: Table) -> Conflict:
    """A sighting already stored moves its `last_seen_at` forward (never back)."""
    key = [column.name for column in table.primary_key.columns]

    def conflict(statement: Any) -> Any:
        latest = statement.excluded.last_seen_at
        return statement.on_conflict_do_update(
            index_elements=key,
            set_={
                "last_seen_at": case(
                    (latest > table.c.last_seen_at, latest), else_=table.c.last_seen_at
                )
            },
        )

    return conflict


_BY_BORROWER: Table = BorrowerPhone.__table__  # type: ignore[assignment]
_BY_PHONE: Table = PhoneBorrower.__table__  # type: ignore[assignment]
_SIGHTINGS: dict[str, tuple[Any, Any]] = {}  # by dialect: built once, used on every inquiry


def record_phones(
    session: Session, sightings: Iterable[tuple[bytes, bytes]], now: datetime
) -> None:
    """Record each (borrower, phone) pair as seen at `now`: one upsert per table, whatever
    the number of pairs, in key order (so that concurrent writers lock rows in one order)."""
    pairs = sorted(set(sightings))
    if not pairs:
        return
    rows = [
        {"borrower": borrower, "phone": phone, "first_seen_at": now, "last_seen_at": now}
        for borrower, phone in pairs
    ]
    by_phone = sorted(rows, key=lambda row: (row["phone"], row["borrower"]))
    if len(rows) > 1:  # a batch of loan reports: one set-based statement per table
        insert_rows(session, _BY_BORROWER, rows, _on_sighting_conflict(_BY_BORROWER))
        insert_rows(session, _BY_PHONE, by_phone, _on_sighting_conflict(_BY_PHONE))
        return
    # One pair (an inquiry): statements built once per dialect.
    dialect = session.get_bind().dialect.name
    statements = _SIGHTINGS.get(dialect)
    if statements is None:
        statements = _SIGHTINGS[dialect] = (
            _on_sighting_conflict(_BY_BORROWER)(upsert(session, _BY_BORROWER)),
            _on_sighting_conflict(_BY_PHONE)(upsert(session, _BY_PHONE)),
        )
    session.execute(statements[0], rows)
    session.execute(statements[1], by_phone)


def record_reported_phones(
    session: Session,
    valid: Iterable[tuple[int, LoanReport]],
    rejected: Iterable[RejectedRecord],
    now: datetime,
) -> None:
    """The phone tokens of a batch's records that were not rejected."""
    refused = {rejection.index for rejection in rejected}
    record_phones(
        session,
        (
            (bytes.fromhex(report.borrower), bytes.fromhex(report.phone_token))
            for index, report in valid
            if report.phone_token is not None and index not in refused
        ),
        now,
    )
