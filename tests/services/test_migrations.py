"""The migrations build exactly the models' schema, down and up again, on both backends;
keys of the token-distributed tables all include the borrower token."""

from __future__ import annotations

import json

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from registry.migrations import current_revision, downgrade, head_revision, upgrade
from registry.models import Base

DISTRIBUTED = ("loans", "loan_history", "inquiries")

# Reads the schema through connections of its own: real commits, not a test transaction.
pytestmark = pytest.mark.committed


def test_schema_matches_the_models(engine):
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def test_database_is_at_head(database_url):
    assert current_revision(database_url) == head_revision()


@pytest.mark.parametrize("table", DISTRIBUTED)
def test_every_key_of_a_distributed_table_includes_the_token(engine, table):
    inspector = inspect(engine)
    assert "borrower" in inspector.get_pk_constraint(table)["constrained_columns"]
    for unique in inspector.get_unique_constraints(table):
        assert "borrower" in unique["column_names"], unique
    for index in inspector.get_indexes(table):
        if index["unique"]:
            assert "borrower" in index["column_names"], index


def test_downgrade_and_upgrade_round_trip(tmp_path):
    url = f"sqlite:///{tmp_path}/roundtrip.db"
    upgrade(url)
    downgrade(url, "base")
    assert current_revision(url) is None
    upgrade(url)
    assert current_revision(url) == head_revision()


def test_default_policy_is_seeded(engine):
    from sqlalchemy import text

    with engine.connect() as connection:
        rows = dict(connection.execute(text("SELECT code, threshold FROM policy_rules")).all())
    assert rows == {
        "MULTI_LENDER": 3,
        "APPLICATION_SPREE": 3,
        "PAST_DUE_ELSEWHERE": 30,
        "WRITTEN_OFF": 1,
        "RAPID_BORROWING": 3,
        "LOAN_CYCLING": 2,
        "PAST_DUE_HISTORY": 60,
        "HIGH_UTILISATION": 90,
        "stale_after_days": 35,
        "count_stale_loans": 0,
        "account_review_days": 90,
        "APPLICATION_BURST": 2,
        "PENDING_ELSEWHERE": 2,
        "SHARED_PHONE": 3,
        "provisional_days": 14,
        "count_provisional_loans": 1,
        "dispute_days": 20,
        "overdue_disputes_ignored": 1,
        "retention_closed_months": 60,
        "reciprocity_days": 35,
    }
    # Every seeded row is a rule or setting the policy service knows, with its default.
    from registry.services.policy import ENTRIES

    assert rows == {entry.code: entry.default for entry in ENTRIES}


def test_0005_moves_the_token_out_of_stored_reports_and_back(tmp_path):
    """Reports stored before 0005 carried the token; the migration removes that copy, and
    the downgrade puts it back from the row's column."""
    from sqlalchemy import create_engine, text

    url = f"sqlite:///{tmp_path}/reports.db"
    upgrade(url, "0004")
    engine = create_engine(url)
    token = bytes(range(32))
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO lenders (id, code, name, status, created_at, updated_at) "
                "VALUES (1, 'a', 'A', 'active', '2026-11-25 12:00:00', '2026-11-25 12:00:00')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO inquiries (borrower, id, lender_id, purpose, flags, created_at, "
                "report) VALUES (:b, 'i-1', 1, 'new_credit', '[]', '2026-11-25 12:00:00', :r)"
            ),
            {"b": token, "r": json.dumps({"inquiry_id": "i-1", "borrower": token.hex()})},
        )
    upgrade(url, "0005")
    with engine.connect() as connection:
        stored = connection.execute(text("SELECT report FROM inquiries")).scalar_one()
    assert token.hex() not in stored and '"inquiry_id"' in stored
    downgrade(url, "0004")
    with engine.connect() as connection:
        stored = connection.execute(text("SELECT report FROM inquiries")).scalar_one()
    assert f'"borrower":"{token.hex()}"' in stored.replace(" ", "")
    engine.dispose()
