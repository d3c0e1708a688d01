"""Quotas on inquiries and uploads per lender, and how long a closed loan still allows an
account review: per-lender overrides of the settings' defaults, the counters they are checked
against, and the policy row `account_review_days`.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-28
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

QUOTA_COLUMNS = ("inquiries_per_day", "inquiry_burst_per_minute", "upload_records_per_day")


def upgrade() -> None:
    with op.batch_alter_table("lenders") as batch_op:
        for column in QUOTA_COLUMNS:
            batch_op.add_column(sa.Column(column, sa.Integer(), nullable=True))
    op.create_table(
        "request_usage",
        sa.Column("lender_id", sa.Integer(), sa.ForeignKey("lenders.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("lender_id", "kind", "window_start"),
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
        [{"code": "account_review_days", "threshold": 90, "enabled": True, "updated_at": created}],
    )


def downgrade() -> None:
    op.execute("DELETE FROM policy_rules WHERE code = 'account_review_days'")
    op.drop_table("request_usage")
    with op.batch_alter_table("lenders") as batch_op:
        for column in QUOTA_COLUMNS:
            batch_op.drop_column(column)
