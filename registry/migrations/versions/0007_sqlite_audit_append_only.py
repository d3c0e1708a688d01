"""The audit log is append-only on SQLite too: triggers refuse UPDATE and DELETE, as the
PostgreSQL trigger of 0002 does.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

SQLITE_TRIGGERS = {
    "audit_events_no_update": "BEFORE UPDATE",
    "audit_events_no_delete": "BEFORE DELETE",
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for name, when in SQLITE_TRIGGERS.items():
        op.execute(
            f"CREATE TRIGGER {name} {when} ON audit_events "
            "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for name in SQLITE_TRIGGERS:
        op.execute(f"DROP TRIGGER {name}")
