"""A rejected record identical to one the lender had rejected before counts once in its
data-quality score: the fingerprints of rejected records, and each upload's repeats.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rejected_records",
        sa.Column("lender_id", sa.Integer(), sa.ForeignKey("lenders.id"), nullable=False),
        sa.Column("fingerprint", sa.LargeBinary(length=32), nullable=False),
        sa.Column("first_rejected_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("lender_id", "fingerprint"),
    )
    with op.batch_alter_table("submissions") as batch_op:
        batch_op.add_column(
            sa.Column("repeated_rejections", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("submissions") as batch_op:
        batch_op.drop_column("repeated_rejections")
    op.drop_table("rejected_records")
