"""The audit log refuses TRUNCATE as well (PostgreSQL): the append-only triggers of 0002 are
row-level, and TRUNCATE fires no row trigger. A statement-level trigger closes that; the
application's role (`registry db app-role`) has no TRUNCATE privilege either.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# 0002's function raises for any event it is attached to: reused for the statement trigger.
NO_TRUNCATE_TRIGGER = """
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(NO_TRUNCATE_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_events_no_truncate ON audit_events")
