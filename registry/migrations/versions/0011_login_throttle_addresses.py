"""Login throttling by client address as well as by username: a throttle row is keyed by a
username or by `ip:<address>`; column `seen` keeps, for a username, the addresses its
failures came from (a username locks only after failures from more than one address) and, for
an address, which kinds of failure were already audited in the window.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("login_throttles") as batch_op:
        batch_op.add_column(sa.Column("seen", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("login_throttles") as batch_op:
        batch_op.drop_column("seen")
