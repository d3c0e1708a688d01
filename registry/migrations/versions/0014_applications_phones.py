"""Applications and their outcomes (approved ones are provisional loans), the borrower's phone
as a secondary identifier, and the policy rows they bring: `provisional_days`,
`count_provisional_loans`, APPLICATION_BURST, PENDING_ELSEWHERE and SHARED_PHONE.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-28
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

POLICY_ROWS = {
    "APPLICATION_BURST": 2,
    "PENDING_ELSEWHERE": 2,
    "SHARED_PHONE": 3,
    "provisional_days": 14,
    "count_provisional_loans": 1,
}


def _sightings(name: str, first: str, second: str) -> None:
    op.create_table(
        name,
        sa.Column(first, sa.LargeBinary(32), nullable=False),
        sa.Column(second, sa.LargeBinary(32), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(first, second),
    )


def upgrade() -> None:
    op.create_table(
        "application_outcomes",
        sa.Column("borrower", sa.LargeBinary(32), nullable=False),
        sa.Column("inquiry_id", sa.String(36), nullable=False),
        sa.Column("lender_id", sa.Integer(), sa.ForeignKey("lenders.id"), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("loan_ref", sa.String(64), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("inquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("borrower_next", sa.LargeBinary(32), nullable=True),
        sa.PrimaryKeyConstraint("borrower", "inquiry_id"),
    )
    op.create_index(
        "ix_application_outcomes_lender_id_recorded_at",
        "application_outcomes",
        ["lender_id", "recorded_at"],
    )
    op.create_index(
        "ix_application_outcomes_lender_id_loan_ref",
        "application_outcomes",
        ["lender_id", "loan_ref"],
    )
    # An outcome names its inquiry by id alone, within the inquiring lender's.
    op.create_index("ix_inquiries_lender_id_id", "inquiries", ["lender_id", "id"])
    _sightings("borrower_phones", "borrower", "phone")
    _sightings("phone_borrowers", "phone", "borrower")
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
        [
            {"code": code, "threshold": value, "enabled": True, "updated_at": created}
            for code, value in POLICY_ROWS.items()
        ],
    )


def downgrade() -> None:
    codes = ", ".join(f"'{code}'" for code in POLICY_ROWS)
    op.execute(f"DELETE FROM policy_rules WHERE code IN ({codes})")
    op.drop_table("phone_borrowers")
    op.drop_table("borrower_phones")
    op.drop_index("ix_inquiries_lender_id_id", "inquiries")
    op.drop_index("ix_application_outcomes_lender_id_loan_ref", "application_outcomes")
    op.drop_index("ix_application_outcomes_lender_id_recorded_at", "application_outcomes")
    op.drop_table("application_outcomes")
