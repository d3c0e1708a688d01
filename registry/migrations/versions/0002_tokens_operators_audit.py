"""Borrower-token keys, rotation windows and quotas; operators and the audit log.

`loans.borrower_next` and `inquiries.borrower_next` hold a borrower's second token while a
key or pepper rotation window is open. The audit log is append-only: on PostgreSQL a
trigger refuses UPDATE and DELETE on it.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

UTC_TIMESTAMP = sa.DateTime(timezone=True)

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

APPEND_ONLY_FUNCTION = """
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only';
END
$$
"""
APPEND_ONLY_TRIGGER = """
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()
"""


def upgrade() -> None:
    with op.batch_alter_table("lenders") as batch_op:
        batch_op.add_column(sa.Column("token_quota_per_day", sa.Integer(), nullable=True))
    with op.batch_alter_table("loans") as batch_op:
        batch_op.add_column(sa.Column("borrower_next", sa.LargeBinary(length=32), nullable=True))
    with op.batch_alter_table("inquiries") as batch_op:
        batch_op.add_column(sa.Column("borrower_next", sa.LargeBinary(length=32), nullable=True))

    op.create_table(
        "token_keys",
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("public_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("retired_at", UTC_TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_token_keys")),
    )
    op.create_table(
        "token_rotations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column("current_key_id", sa.String(length=32), nullable=False),
        sa.Column("next_key_id", sa.String(length=32), nullable=False),
        sa.Column("opened_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("closed_at", UTC_TIMESTAMP, nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(
            ["current_key_id"],
            ["token_keys.key_id"],
            name=op.f("fk_token_rotations_current_key_id_token_keys"),
        ),
        sa.ForeignKeyConstraint(
            ["next_key_id"],
            ["token_keys.key_id"],
            name=op.f("fk_token_rotations_next_key_id_token_keys"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_token_rotations")),
    )
    op.create_index("ix_token_rotations_closed_at", "token_rotations", ["closed_at"])
    op.create_table(
        "token_usage",
        sa.Column("lender_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("elements", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["lender_id"], ["lenders.id"], name=op.f("fk_token_usage_lender_id_lenders")
        ),
        sa.PrimaryKeyConstraint("lender_id", "day", name=op.f("pk_token_usage")),
    )

    op.create_table(
        "operators",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("totp_secret_encrypted", sa.LargeBinary(length=255), nullable=True),
        sa.Column("totp_enabled_at", UTC_TIMESTAMP, nullable=True),
        sa.Column("recovery_code_hashes", sa.JSON(), nullable=False),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("updated_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("last_login_at", UTC_TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operators")),
        sa.UniqueConstraint("username", name=op.f("uq_operators_username")),
    )
    op.create_table(
        "audit_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("occurred_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("action", sa.String(length=48), nullable=False),
        sa.Column("target", sa.String(length=160), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("ip", sa.String(length=45), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index("ix_audit_events_occurred_at", "audit_events", ["occurred_at"])
    op.create_index("ix_audit_events_action_occurred_at", "audit_events", ["action", "occurred_at"])
    op.create_index("ix_audit_events_actor_occurred_at", "audit_events", ["actor", "occurred_at"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(APPEND_ONLY_FUNCTION)
        op.execute(APPEND_ONLY_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION audit_events_append_only()")
    op.drop_index("ix_audit_events_actor_occurred_at", table_name="audit_events")
    op.drop_index("ix_audit_events_action_occurred_at", table_name="audit_events")
    op.drop_index("ix_audit_events_occurred_at", table_name="audit_events")
    op.drop_table("audit_events")
    op.drop_table("operators")
    op.drop_table("token_usage")
    op.drop_index("ix_token_rotations_closed_at", table_name="token_rotations")
    op.drop_table("token_rotations")
    op.drop_table("token_keys")
    with op.batch_alter_table("inquiries") as batch_op:
        batch_op.drop_column("borrower_next")
    with op.batch_alter_table("loans") as batch_op:
        batch_op.drop_column("borrower_next")
    with op.batch_alter_table("lenders") as batch_op:
        batch_op.drop_column("token_quota_per_day")
