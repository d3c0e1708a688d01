"""Initial schema: lenders, keys, loans (state, history, references), submissions,
inquiries and the flag policy with its default thresholds.

The loan, loan-history and inquiry tables have the borrower token first in every key, so
that they can be distributed by it.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

# Timestamps are UTC; the application's UTCDateTime type has this same storage type.
UTC_TIMESTAMP = sa.DateTime(timezone=True)

DEFAULT_POLICY = {
    "MULTI_LENDER": 3,
    "APPLICATION_SPREE": 3,
    "PAST_DUE_ELSEWHERE": 30,
    "WRITTEN_OFF": 1,
    "RAPID_BORROWING": 3,
}

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lenders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("updated_at", UTC_TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lenders")),
        sa.UniqueConstraint("code", name=op.f("uq_lenders_code")),
    )
    op.create_table(
        "policy_rules",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("updated_at", UTC_TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_policy_rules")),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lender_id", sa.Integer(), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("secret_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("revoked_at", UTC_TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["lender_id"], ["lenders.id"], name=op.f("fk_api_keys_lender_id_lenders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_keys_prefix")),
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_keys_lender_id"), ["lender_id"], unique=False)

    op.create_table(
        "inquiries",
        sa.Column("borrower", sa.LargeBinary(length=32), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("lender_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("consent_ref", sa.String(length=128), nullable=True),
        sa.Column("amount_requested", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("flags", sa.JSON(), nullable=False),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["lender_id"], ["lenders.id"], name=op.f("fk_inquiries_lender_id_lenders")
        ),
        sa.PrimaryKeyConstraint("borrower", "id", name=op.f("pk_inquiries")),
    )
    with op.batch_alter_table("inquiries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_inquiries_borrower_created_at", ["borrower", "created_at"], unique=False
        )
        batch_op.create_index("ix_inquiries_created_at", ["created_at"], unique=False)
        batch_op.create_index(
            "ix_inquiries_lender_id_created_at", ["lender_id", "created_at"], unique=False
        )

    op.create_table(
        "loan_history",
        sa.Column("borrower", sa.LargeBinary(length=32), nullable=False),
        sa.Column("lender_id", sa.Integer(), nullable=False),
        sa.Column("loan_ref", sa.String(length=64), nullable=False),
        sa.Column("as_of", UTC_TIMESTAMP, nullable=False),
        sa.Column("submission_id", sa.String(length=36), nullable=False),
        sa.Column("recorded_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("product", sa.String(length=16), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("principal", sa.BigInteger(), nullable=False),
        sa.Column("outstanding", sa.BigInteger(), nullable=False),
        sa.Column("opened_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("days_past_due", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["lender_id"], ["lenders.id"], name=op.f("fk_loan_history_lender_id_lenders")
        ),
        sa.PrimaryKeyConstraint(
            "borrower", "lender_id", "loan_ref", "as_of", name=op.f("pk_loan_history")
        ),
    )
    op.create_table(
        "loan_refs",
        sa.Column("lender_id", sa.Integer(), nullable=False),
        sa.Column("loan_ref", sa.String(length=64), nullable=False),
        sa.Column("borrower", sa.LargeBinary(length=32), nullable=False),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["lender_id"], ["lenders.id"], name=op.f("fk_loan_refs_lender_id_lenders")
        ),
        sa.PrimaryKeyConstraint("lender_id", "loan_ref", name=op.f("pk_loan_refs")),
    )
    op.create_table(
        "inquiry_keys",
        sa.Column("lender_id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("borrower", sa.LargeBinary(length=32), nullable=False),
        sa.Column("inquiry_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["lender_id"], ["lenders.id"], name=op.f("fk_inquiry_keys_lender_id_lenders")
        ),
        sa.PrimaryKeyConstraint("lender_id", "idempotency_key", name=op.f("pk_inquiry_keys")),
    )
    op.create_table(
        "loans",
        sa.Column("borrower", sa.LargeBinary(length=32), nullable=False),
        sa.Column("lender_id", sa.Integer(), nullable=False),
        sa.Column("loan_ref", sa.String(length=64), nullable=False),
        sa.Column("as_of", UTC_TIMESTAMP, nullable=False),
        sa.Column("first_reported_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("last_reported_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("last_submission_id", sa.String(length=36), nullable=False),
        sa.Column("product", sa.String(length=16), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("principal", sa.BigInteger(), nullable=False),
        sa.Column("outstanding", sa.BigInteger(), nullable=False),
        sa.Column("opened_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("days_past_due", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["lender_id"], ["lenders.id"], name=op.f("fk_loans_lender_id_lenders")
        ),
        sa.PrimaryKeyConstraint("borrower", "lender_id", "loan_ref", name=op.f("pk_loans")),
    )
    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.create_index(
            "ix_loans_lender_id_loan_ref", ["lender_id", "loan_ref"], unique=False
        )
        batch_op.create_index(
            "ix_loans_lender_id_status_loan_ref", ["lender_id", "status", "loan_ref"], unique=False
        )

    op.create_table(
        "submissions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("lender_id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("request_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("stale", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.Column("created_at", UTC_TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["lender_id"], ["lenders.id"], name=op.f("fk_submissions_lender_id_lenders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_submissions")),
        sa.UniqueConstraint(
            "lender_id", "idempotency_key", name=op.f("uq_submissions_lender_id_idempotency_key")
        ),
    )
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_submissions_lender_id_created_at", ["lender_id", "created_at"], unique=False
        )

    policy = sa.table(
        "policy_rules",
        sa.column("code", sa.String),
        sa.column("threshold", sa.Integer),
        sa.column("enabled", sa.Boolean),
        sa.column("updated_at", UTC_TIMESTAMP),
    )
    created = datetime(2026, 11, 25, tzinfo=UTC)
    if op.get_bind().dialect.name == "sqlite":
        created = created.replace(tzinfo=None)
    op.bulk_insert(
        policy,
        [
            {"code": code, "threshold": value, "enabled": True, "updated_at": created}
            for code, value in DEFAULT_POLICY.items()
        ],
    )


def downgrade() -> None:
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.drop_index("ix_submissions_lender_id_created_at")

    op.drop_table("submissions")
    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.drop_index("ix_loans_lender_id_status_loan_ref")
        batch_op.drop_index("ix_loans_lender_id_loan_ref")

    op.drop_table("loans")
    op.drop_table("loan_refs")
    op.drop_table("inquiry_keys")
    op.drop_table("loan_history")
    with op.batch_alter_table("inquiries", schema=None) as batch_op:
        batch_op.drop_index("ix_inquiries_lender_id_created_at")
        batch_op.drop_index("ix_inquiries_created_at")
        batch_op.drop_index("ix_inquiries_borrower_created_at")

    op.drop_table("inquiries")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_keys_lender_id"))

    op.drop_table("api_keys")
    op.drop_table("policy_rules")
    op.drop_table("lenders")
