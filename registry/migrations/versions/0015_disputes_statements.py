"""Disputes and borrowers' statements, a lender's give-to-get exemption, and the policy rows
of the registry's duties: `dispute_days`, `overdue_disputes_ignored`,
`retention_closed_months` and `reciprocity_days`.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-28
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

POLICY_ROWS = {
    "dispute_days": 20,
    "overdue_disputes_ignored": 1,
    "retention_closed_months": 60,
    "reciprocity_days": 35,
}


def upgrade() -> None:
    op.create_table(
        "disputes",
        sa.Column("borrower", sa.LargeBinary(32), nullable=False),
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("lender_id", sa.Integer(), sa.ForeignKey("lenders.id"), nullable=False),
        sa.Column("loan_ref", sa.String(64), nullable=False),
        sa.Column("opened_by_lender_id", sa.Integer(), sa.ForeignKey("lenders.id"), nullable=True),
        sa.Column(
            "opened_by_operator_id", sa.Integer(), sa.ForeignKey("operators.id"), nullable=True
        ),
        sa.Column("inquiry_id", sa.String(36), nullable=True),
        sa.Column("tradeline", sa.String(32), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("resolution", sa.String(16), nullable=True),
        sa.Column("note", sa.String(500), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("borrower_next", sa.LargeBinary(32), nullable=True),
        sa.PrimaryKeyConstraint("borrower", "id"),
    )
    op.create_index(
        "ix_disputes_lender_id_status_due_at", "disputes", ["lender_id", "status", "due_at"]
    )
    op.create_index("ix_disputes_status_due_at", "disputes", ["status", "due_at"])
    op.create_index("ix_disputes_id", "disputes", ["id"])
    op.create_table(
        "borrower_statements",
        sa.Column("borrower", sa.LargeBinary(32), nullable=False),
        sa.Column("text", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("operator_id", sa.Integer(), sa.ForeignKey("operators.id"), nullable=True),
        sa.Column("borrower_next", sa.LargeBinary(32), nullable=True),
        sa.PrimaryKeyConstraint("borrower"),
    )
    with op.batch_alter_table("lenders") as batch_op:
        batch_op.add_column(
            sa.Column("reciprocity_exempt_until", sa.DateTime(timezone=True), nullable=True)
        )
    policy = sa.table(
        "policy_rules",
        sa.column("code", sa.String),
        sa.column("threshold", sa.Integer),
        sa.column("enabled", sa.Boolean),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    created = datetime(2026, 11, 28, tzinfo=UTC)
    if op.get_bind().dialect.name == "sqlite":
        created = created.replace(tzinfo=None)
    op.bulk_insert(
        policy,
        [
            {"code": code, "threshold": value, "enabled": True, "updated_at": created}
            for code, value in POLICY_ROWS.items()
        ],
    )


def downgrade() -> None:
    codes = ", ".join(f"'{code}'" for code in POLICY_ROWS)
    op.execute(f"DELETE FROM policy_rules WHERE code IN ({codes})")
    with op.batch_alter_table("lenders") as batch_op:
        batch_op.drop_column("reciprocity_exempt_until")
    op.drop_table("borrower_statements")
    op.drop_index("ix_disputes_id", "disputes")
    op.drop_index("ix_disputes_status_due_at", "disputes")
    op.drop_index("ix_disputes_lender_id_status_due_at", "disputes")
    op.drop_table("disputes")
