"""Loans: the latest state per loan, its append-only history, and the lender's reference map.

`loans` and `loan_history` are keyed by the borrower token first, so that they can be
distributed by it (Citus) with every unique key intact. `loan_refs` is keyed by lender and
maps a lender's own reference to the one token it was first reported with.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, ForeignKey, Index, LargeBinary, String, text
from sqlalchemy.orm import Mapped, mapped_column

from registry.models.base import Base, Currency, MinorUnits, Timestamp, Token
from registry_protocol.wire import LoanStatus, Product

__all__ = [
    "STATE_FIELDS",
    "Loan",
    "LoanHistory",
    "LoanMonth",
    "LoanRef",
    "LoanStatus",
    "Product",
]


# The fields of a report that make up a loan's state (everything but keys and timestamps).
STATE_FIELDS = (
    "product",
    "currency",
    "principal",
    "outstanding",
    "opened_on",
    "due_on",
    "status",
    "days_past_due",
    "credit_limit",
    "scheduled_payment",
    "payment_frequency",
    "amount_past_due",
    "closed_on",
    "special_event",
)


class LoanRef(Base):
    __tablename__ = "loan_refs"

    lender_id: Mapped[int] = mapped_column(ForeignKey("lenders.id"), primary_key=True)
    loan_ref: Mapped[str] = mapped_column(String(64), primary_key=True)
    borrower: Mapped[Token]
    created_at: Mapped[datetime]


class _LoanState:
    """Columns shared by the current state and each history row."""

    product: Mapped[str] = mapped_column(String(16))
    currency: Mapped[Currency]
    principal: Mapped[MinorUnits]
    outstanding: Mapped[MinorUnits]
    opened_on: Mapped[date]
    due_on: Mapped[date | None]
    status: Mapped[str] = mapped_column(String(16))
    days_past_due: Mapped[int]
    # The line's limit for revolving products; the principal for instalment loans.
    credit_limit: Mapped[MinorUnits]
    scheduled_payment: Mapped[int | None] = mapped_column(BigInteger)
    payment_frequency: Mapped[str | None] = mapped_column(String(16))
    amount_past_due: Mapped[MinorUnits]
    closed_on: Mapped[date | None]  # closed or written off (the write-off date)
    special_event: Mapped[str | None] = mapped_column(String(32))


class Loan(_LoanState, Base):
    __tablename__ = "loans"
    __table_args__ = (
        Index("ix_loans_lender_id_loan_ref", "lender_id", "loan_ref"),
        Index("ix_loans_lender_id_status_loan_ref", "lender_id", "status", "loan_ref"),
        # The console's whole-book figures read every open loan's (borrower, lender,
        # currency, outstanding): this partial index answers them from the index alone, in
        # borrower order, so that lenders per borrower are counted as the scan goes.
        Index(
            "ix_loans_open_borrower_lender",
            "borrower",
            "lender_id",
            postgresql_where=text("status = 'open'"),
            sqlite_where=text("status = 'open'"),
            postgresql_include=["currency", "outstanding"],
        ),
    )

    borrower: Mapped[Token] = mapped_column(primary_key=True)
    lender_id: Mapped[int] = mapped_column(ForeignKey("lenders.id"), primary_key=True)
    loan_ref: Mapped[str] = mapped_column(String(64), primary_key=True)
    as_of: Mapped[Timestamp]
    first_reported_at: Mapped[Timestamp]
    last_reported_at: Mapped[Timestamp]
    last_submission_id: Mapped[str] = mapped_column(String(36))
    # The borrower's token under the next key or pepper, during a rotation window only.
    borrower_next: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    # Kept from the first report that wrote the loan off, whatever comes after (a repayment
    # after write-off): negative information survives the loan's later states.
    written_off_amount: Mapped[int | None] = mapped_column(BigInteger)
    written_off_on: Mapped[date | None]


class LoanHistory(_LoanState, Base):
    """Every accepted report, append-only. One row per (loan, as_of): a second, different
    state with the same as_of is rejected, and an unchanged state writes no row."""

    __tablename__ = "loan_history"

    borrower: Mapped[Token] = mapped_column(primary_key=True)
    lender_id: Mapped[int] = mapped_column(ForeignKey("lenders.id"), primary_key=True)
    loan_ref: Mapped[str] = mapped_column(String(64), primary_key=True)
    as_of: Mapped[Timestamp] = mapped_column(primary_key=True)
    submission_id: Mapped[str] = mapped_column(String(36))
    recorded_at: Mapped[Timestamp]


class LoanMonth(Base):
    """Each loan's worst reported state per calendar month, derived at ingest from every
    accepted (or unchanged but newer) report, so that an inquiry reads 24 months of payment
    status without scanning history. Keyed by token first, like every distributed table."""

    __tablename__ = "loan_months"

    borrower: Mapped[Token] = mapped_column(primary_key=True)
    lender_id: Mapped[int] = mapped_column(ForeignKey("lenders.id"), primary_key=True)
    loan_ref: Mapped[str] = mapped_column(String(64), primary_key=True)
    month: Mapped[date] = mapped_column(primary_key=True)  # the first day of the month
    # The month's character of the 24-month string (registry_protocol.payment_status).
    status: Mapped[str] = mapped_column(String(1))
    worst_days_past_due: Mapped[int]
    # The latest as_of date in the month at which the loan was past due, if any.
    last_delinquent_on: Mapped[date | None]
