"""A new API key waiting to be shown once is held (sealed) in the operator's session row,
not in the browser's cookie.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("operator_sessions") as batch_op:
        batch_op.add_column(sa.Column("pending_key", sa.LargeBinary(length=512), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("operator_sessions") as batch_op:
        batch_op.drop_column("pending_key")
