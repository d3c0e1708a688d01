"""Stored inquiry reports lose their copy of the borrower token: the row's `borrower` column
is the one place it lives, so that retiring a rotation leaves no old token behind.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("UPDATE inquiries SET report = (report::jsonb - 'borrower')::json")
    else:
        op.execute("UPDATE inquiries SET report = json_remove(report, '$.borrower')")


def downgrade() -> None:
    # The token is still in each row's `borrower` column: put the copy back.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "UPDATE inquiries SET report = "
            "(report::jsonb || jsonb_build_object('borrower', encode(borrower, 'hex')))::json"
        )
    else:
        op.execute(
            "UPDATE inquiries SET report = json_set(report, '$.borrower', lower(hex(borrower)))"
        )
