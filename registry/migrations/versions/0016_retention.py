"""Retention: an index on `inquiry_keys.created_at`, so that the daily run finds the keys of
inquiries past retention without reading the whole table.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_inquiry_keys_created_at", "inquiry_keys", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_inquiry_keys_created_at", "inquiry_keys")
