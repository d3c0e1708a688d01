"""Ready for Citus: every table has a place (`registry.partitioning.TABLES`), every key of a
distributed table carries its distribution column, `registry db distribute` prints the Citus
calls and refuses --apply without Citus, and the hash-partitioned schema keeps each table's
keys, indexes and rows."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from click.testing import CliRunner
from sqlalchemy import UniqueConstraint

from registry.cli import main
from registry.migrations import upgrade
from registry.models import Base
from registry.partitioning import PARTITIONED, TABLES, Placement, partition_schema

ADMIN_URL = os.environ.get("REGISTRY_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DISTRIBUTED = (Placement.BY_BORROWER, Placement.BY_PHONE, Placement.BY_LENDER)
PER_BORROWER = {
    "loans", "loan_history", "loan_months", "loan_corrections", "inquiries",
    "application_outcomes", "borrower_phones", "disputes", "borrower_statements",
}  # fmt: skip


def test_every_table_the_migrations_make_has_one_place() -> None:
    placed = [place.table for place in TABLES]
    assert len(placed) == len(set(placed))
    assert set(placed) == {*Base.metadata.tables, "alembic_version"}


def test_the_per_borrower_tables_are_distributed_by_the_borrower_token() -> None:
    by_borrower = {p.table for p in TABLES if p.placement is Placement.BY_BORROWER}
    assert by_borrower == PER_BORROWER
    assert {p.table: p.column for p in TABLES if p.placement is Placement.BY_PHONE} == {
        "phone_borrowers": "phone"
    }
    assert {p.table for p in PARTITIONED} == PER_BORROWER | {"phone_borrowers"}


@pytest.mark.parametrize("place", [p for p in TABLES if p.placement in DISTRIBUTED])
def test_every_key_of_a_distributed_table_carries_its_column(place) -> None:
    table = Base.metadata.tables[place.table]
    keys = [table.primary_key] + [c for c in table.constraints if isinstance(c, UniqueConstraint)]
    for key in keys:
        assert place.column in key.columns, f"{place.table}: {key.name} lacks {place.column}"
    # The token leads the key, so the key's index finds a token's rows in one range.
    if place.placement is not Placement.BY_LENDER:
        assert next(iter(table.primary_key.columns)).name == place.column
    unique_indexes = [index for index in table.indexes if index.unique]
    for index in unique_indexes:
        assert place.column in index.columns, f"{place.table}: {index.name}"


def test_distribute_prints_a_call_for_every_table_but_the_schema_version() -> None:
    result = CliRunner().invoke(main, ["db", "distribute"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    calls = [line for line in result.output.splitlines() if line.startswith("SELECT ")]
    named = {re.search(r"\('([a-z_]+)'", line).group(1) for line in calls}  # type: ignore[union-attr]
    assert named == {p.table for p in TABLES} - {"alembic_version"}
    assert "SELECT create_distributed_table('loans', 'borrower', colocate_with => 'none');" in calls
    assert (
        "SELECT create_distributed_table('inquiries', 'borrower', colocate_with => 'loans');"
        in calls
    )
    assert "SELECT create_reference_table('lenders');" in calls
    assert "SELECT citus_add_local_table_to_metadata('submissions');" in calls
    # Reference tables come before the distributed tables whose foreign keys point at them.
    first_distributed = next(i for i, c in enumerate(calls) if "create_distributed" in c)
    assert all("create_reference" not in c for c in calls[first_distributed:])


@pytest.mark.committed
def test_distribute_apply_refuses_a_database_without_citus(database_url, monkeypatch) -> None:
    monkeypatch.setenv("REGISTRY_DATABASE_URL", database_url)
    monkeypatch.delenv("REGISTRY_ENV", raising=False)
    result = CliRunner().invoke(main, ["db", "distribute", "--apply"])
    assert result.exit_code == 1
    assert "needs a Citus coordinator" in result.output


@pytest.fixture
def fresh_pg_url() -> Iterator[str]:
    name = f"registry_test_part_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
        upgrade(url)
        yield url
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _catalogue(url: str, table: str) -> tuple[list[tuple[str, str]], list[str]]:
    with psycopg.connect(url) as connection:
        keys = connection.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = %s::regclass ORDER BY 1",
            (table,),
        ).fetchall()
        indexes = connection.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = %s ORDER BY 1", (table,)
        ).fetchall()
    return [(str(n), str(d)) for n, d in keys], [str(i) for (i,) in indexes]


@pytest.mark.postgres
def test_the_partitioned_schema_keeps_keys_indexes_and_rows(fresh_pg_url) -> None:
    before = {p.table: _catalogue(fresh_pg_url, p.table) for p in PARTITIONED}
    with psycopg.connect(fresh_pg_url) as connection:
        connection.execute(
            "INSERT INTO lenders (code, name, status, created_at, updated_at) "
            "VALUES ('a', 'A', 'active', now(), now())"
        )
        connection.execute(
            "INSERT INTO borrower_statements (borrower, text, created_at) "
            "SELECT sha256(n::text::bytea), 'statement ' || n, now() FROM generate_series(1, 64) n"
        )
        connection.commit()
    partition_schema(fresh_pg_url, partitions=4)
    partition_schema(fresh_pg_url, partitions=4)  # a second run changes nothing
    with psycopg.connect(fresh_pg_url) as connection:
        for place in PARTITIONED:
            kind = connection.execute(
                "SELECT relkind FROM pg_class WHERE oid = %s::regclass", (place.table,)
            ).fetchone()
            assert kind == ("p",), place.table
            parts = connection.execute(
                "SELECT count(*) FROM pg_inherits WHERE inhparent = %s::regclass", (place.table,)
            ).fetchone()
            assert parts == (4,), place.table
        spread = connection.execute(
            "SELECT count(DISTINCT tableoid), count(*) FROM borrower_statements"
        ).fetchone()
        assert spread == (4, 64)  # the rows kept, spread over the partitions
        with pytest.raises(psycopg.errors.UniqueViolation):  # the key still holds
            connection.execute(
                "INSERT INTO borrower_statements (borrower, text, created_at) "
                "VALUES (sha256('1'::bytea), 'again', now())"
            )
    after = {p.table: _catalogue(fresh_pg_url, p.table) for p in PARTITIONED}
    for table, (keys, indexes) in before.items():
        assert after[table][0] == keys, table
        assert set(indexes) <= set(after[table][1]), table
