"""Tradelines: what a loan report carries beyond its balance (limit, scheduled payment,
amount past due, closing date, special event), each loan's worst state per month (the
24-month payment-status string, derived at ingest), written-off amounts that survive later
states, lenders that exited, corrections' audit trail, retractions' tombstones, and the policy
rows of the new flags and of freshness.

Existing rows are filled in: an instalment loan's limit is its principal, nothing is past due
where no day is, a closed or written-off loan closed on its as_of date, and the months of every
stored history row.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

from registry_protocol.payment_status import month_of, month_status, worse

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

UTC_TIMESTAMP = sa.DateTime(timezone=True)
STATE_TABLES = ("loans", "loan_history")
# The policy rows this revision adds: the new flags' thresholds and two settings.
NEW_POLICY = {
    "LOAN_CYCLING": 2,
    "PAST_DUE_HISTORY": 60,
    "HIGH_UTILISATION": 90,
    "stale_after_days": 35,
    "count_stale_loans": 0,
}


def upgrade() -> None:
    for table in STATE_TABLES:
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(sa.Column("credit_limit", sa.BigInteger(), nullable=True))
            batch_op.add_column(sa.Column("scheduled_payment", sa.BigInteger(), nullable=True))
            batch_op.add_column(sa.Column("payment_frequency", sa.String(16), nullable=True))
            batch_op.add_column(
                sa.Column("amount_past_due", sa.BigInteger(), nullable=False, server_default="0")
            )
            batch_op.add_column(sa.Column("closed_on", sa.Date(), nullable=True))
            batch_op.add_column(sa.Column("special_event", sa.String(32), nullable=True))
        _fill_state(table)
        with op.batch_alter_table(table) as batch_op:
            batch_op.alter_column("credit_limit", existing_type=sa.BigInteger(), nullable=False)
    with op.batch_alter_table("loans") as batch_op:
        batch_op.add_column(sa.Column("written_off_amount", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("written_off_on", sa.Date(), nullable=True))
    op.execute(
        "UPDATE loans SET written_off_amount = outstanding, written_off_on = closed_on "
        "WHERE status = 'written_off'"
    )
    with op.batch_alter_table("lenders") as batch_op:
        batch_op.add_column(sa.Column("exited_at", sa.DateTime(timezone=True), nullable=True))

    op.create_table(
        "loan_months",
        sa.Column("borrower", sa.LargeBinary(32), nullable=False),
        sa.Column("lender_id", sa.Integer(), sa.ForeignKey("lenders.id"), nullable=False),
        sa.Column("loan_ref", sa.String(64), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("status", sa.String(1), nullable=False),
        sa.Column("worst_days_past_due", sa.Integer(), nullable=False),
        sa.Column("last_delinquent_on", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("borrower", "lender_id", "loan_ref", "month"),
    )
    op.create_table(
        "loan_corrections",
        sa.Column("borrower", sa.LargeBinary(32), nullable=False),
        sa.Column("lender_id", sa.Integer(), sa.ForeignKey("lenders.id"), nullable=False),
        sa.Column("loan_ref", sa.String(64), nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("corrected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("replaced", sa.JSON(), nullable=False),
        sa.Column("submission_id", sa.String(36), nullable=False),
        sa.PrimaryKeyConstraint("borrower", "lender_id", "loan_ref", "as_of", "corrected_at"),
    )
    op.create_table(
        "loan_retractions",
        sa.Column("lender_id", sa.Integer(), sa.ForeignKey("lenders.id"), nullable=False),
        sa.Column("loan_ref", sa.String(64), nullable=False),
        sa.Column("retracted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("borrower", sa.LargeBinary(32), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("history_rows", sa.Integer(), nullable=False),
        sa.Column("retracted_by", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("lender_id", "loan_ref", "retracted_at"),
    )
    _fill_months()
    _add_policy_rows()


def _fill_state(table: str) -> None:
    op.execute(f"UPDATE {table} SET credit_limit = principal")
    as_of_date = "date(as_of)" if op.get_bind().dialect.name == "sqlite" else "CAST(as_of AS date)"
    op.execute(
        f"UPDATE {table} SET closed_on = {as_of_date} "
        "WHERE status IN ('closed', 'written_off') AND closed_on IS NULL"
    )


def _history_rows() -> Iterator[Any]:
    yield from op.get_bind().execute(
        sa.text(
            "SELECT borrower, lender_id, loan_ref, as_of, status, days_past_due "
            "FROM loan_history ORDER BY borrower, lender_id, loan_ref, as_of"
        )
    )


def _fill_months() -> None:
    months: dict[tuple[bytes, int, str, date], dict[str, Any]] = {}
    for row in _history_rows():
        as_of = row.as_of if isinstance(row.as_of, datetime) else datetime.fromisoformat(row.as_of)
        day = as_of.date()
        key = (bytes(row.borrower), row.lender_id, row.loan_ref, month_of(day))
        entry = months.setdefault(
            key, {"status": "N", "worst_days_past_due": 0, "last_delinquent_on": None}
        )
        entry["status"] = worse(entry["status"], month_status(row.status, row.days_past_due))
        entry["worst_days_past_due"] = max(entry["worst_days_past_due"], row.days_past_due)
        if row.days_past_due > 0:
            entry["last_delinquent_on"] = day
    table = sa.table(
        "loan_months",
        sa.column("borrower", sa.LargeBinary),
        sa.column("lender_id", sa.Integer),
        sa.column("loan_ref", sa.String),
        sa.column("month", sa.Date),
        sa.column("status", sa.String),
        sa.column("worst_days_past_due", sa.Integer),
        sa.column("last_delinquent_on", sa.Date),
    )
    rows = [
        {"borrower": b, "lender_id": lender, "loan_ref": ref, "month": month, **entry}
        for (b, lender, ref, month), entry in months.items()
    ]
    if rows:
        op.bulk_insert(table, rows)


def _add_policy_rows() -> None:
    policy = sa.table(
        "policy_rules",
        sa.column("code", sa.String),
        sa.column("threshold", sa.Integer),
        sa.column("enabled", sa.Boolean),
        sa.column("updated_at", UTC_TIMESTAMP),
    )
    created = datetime(2026, 11, 28, tzinfo=UTC)
    if op.get_bind().dialect.name == "sqlite":
        created = created.replace(tzinfo=None)
    op.bulk_insert(
        policy,
        [
            {"code": code, "threshold": value, "enabled": True, "updated_at": created}
            for code, value in NEW_POLICY.items()
        ],
    )


def downgrade() -> None:
    op.execute(
        "DELETE FROM policy_rules WHERE code IN ("
        + ", ".join(f"'{code}'" for code in NEW_POLICY)
        + ")"
    )
    op.drop_table("loan_retractions")
    op.drop_table("loan_corrections")
    op.drop_table("loan_months")
    with op.batch_alter_table("lenders") as batch_op:
        batch_op.drop_column("exited_at")
    with op.batch_alter_table("loans") as batch_op:
        batch_op.drop_column("written_off_on")
        batch_op.drop_column("written_off_amount")
    for table in STATE_TABLES:
        with op.batch_alter_table(table) as batch_op:
            for column in (
                "special_event",
                "closed_on",
                "amount_past_due",
                "payment_frequency",
                "scheduled_payment",
                "credit_limit",
            ):
                batch_op.drop_column(column)
