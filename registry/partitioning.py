"""Past one machine: how each table distributes by the borrower token, and a hash-partitioned
PostgreSQL schema that imposes the same key rules on one machine.

Citus (distributed PostgreSQL) splits a table into shards by the hash of one column, its
distribution column; every primary and unique key must contain it, and it can never be
updated. PostgreSQL's declarative partitioning by hash has the same two rules, so the suite
run against `partition_schema` (tests: REGISTRY_TEST_PARTITIONED=1) proves the code ready.

`TABLES` names every table's place. `registry db distribute` turns it into Citus calls
(`distribution_statements`); `tests/deploy/test_partitioning.py` fails on a table the
migrations add without a place here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import psycopg

PARTITIONS = 8


class Placement(StrEnum):
    BY_BORROWER = "distributed by borrower"  # co-located with loans: one shard per token
    BY_PHONE = "distributed by phone"  # the phone index, its own co-location group
    BY_LENDER = "distributed by lender"  # a lender's own references and counters
    REFERENCE = "reference"  # small, read everywhere: a copy on every worker
    # Keyed by neither token nor lender (an upload's answer by id, the audit log): a Citus
    # local table on the coordinator, which may join the others in one transaction.
    COORDINATOR = "coordinator"


@dataclass(frozen=True)
class TablePlace:
    table: str
    placement: Placement
    column: str | None = None  # the distribution column (the partition key here)


def _by(placement: Placement, column: str, *tables: str) -> list[TablePlace]:
    return [TablePlace(table, placement, column) for table in tables]


TABLES: tuple[TablePlace, ...] = (
    *_by(
        Placement.BY_BORROWER,
        "borrower",
        "loans",
        "loan_history",
        "loan_months",
        "loan_corrections",
        "inquiries",
        "application_outcomes",
        "borrower_phones",
        "disputes",
        "borrower_statements",
    ),
    *_by(Placement.BY_PHONE, "phone", "phone_borrowers"),
    *_by(
        Placement.BY_LENDER,
        "lender_id",
        "loan_refs",
        "loan_retractions",
        "inquiry_keys",
        "rejected_records",
        "request_usage",
        "token_usage",
    ),
    *(
        TablePlace(table, Placement.REFERENCE)
        for table in (
            "lenders",
            "api_keys",
            "policy_rules",
            "token_keys",
            "token_rotations",
            # Disputes and statements name their operator: a distributed table's foreign
            # keys may point only at reference tables (or its co-located shards).
            "operators",
            "operator_sessions",
        )
    ),
    *(
        TablePlace(table, Placement.COORDINATOR)
        for table in (
            "submissions",
            "login_throttles",
            "audit_events",
            "pepper_checks",
            "alembic_version",
        )
    ),
)
# What is partitioned here: the tables distributed by a token (by borrower, by phone).
PARTITIONED = tuple(
    place for place in TABLES if place.placement in (Placement.BY_BORROWER, Placement.BY_PHONE)
)


def distribution_statements() -> list[str]:
    """The Citus calls that distribute this schema: reference tables first (the others'
    foreign keys point at them), the coordinator's local tables, then the distributed ones."""
    statements = [
        f"SELECT create_reference_table('{p.table}');"
        for p in TABLES
        if p.placement is Placement.REFERENCE
    ]
    statements += [
        f"SELECT citus_add_local_table_to_metadata('{p.table}');"
        for p in TABLES
        if p.placement is Placement.COORDINATOR and p.table != "alembic_version"
    ]
    anchor = {Placement.BY_BORROWER: "loans", Placement.BY_PHONE: "phone_borrowers"}
    for place in TABLES:
        if place.placement is Placement.BY_LENDER:
            # Lender-keyed tables co-locate with loan_refs, the first of them.
            colocate = "none" if place.table == "loan_refs" else "loan_refs"
        elif place.placement in anchor:
            first = anchor[place.placement]
            colocate = "none" if place.table == first else first
        else:
            continue
        statements.append(
            f"SELECT create_distributed_table('{place.table}', '{place.column}', "
            f"colocate_with => '{colocate}');"
        )
    return statements


# -- the hash-partitioned schema -------------------------------------------------------------


def partition_schema(url: str, partitions: int = PARTITIONS) -> list[str]:
    """Rebuild each table of PARTITIONED as `PARTITION BY HASH (its token column)` with
    `partitions` partitions, keeping its columns, keys, indexes, foreign keys and rows (run it
    on a freshly migrated database: it takes each table's lock in turn). Returns the tables."""
    with psycopg.connect(url) as connection:
        for place in PARTITIONED:
            assert place.column is not None
            _partition(connection, place.table, place.column, partitions)
        connection.commit()
    return [place.table for place in PARTITIONED]


def is_partitioned(connection: psycopg.Connection[Any], table: str) -> bool:
    row = connection.execute(
        "SELECT relkind FROM pg_class WHERE oid = %s::regclass", (table,)
    ).fetchone()
    return row is not None and row[0] == "p"


def _partition(
    connection: psycopg.Connection[Any], table: str, column: str, partitions: int
) -> None:
    if is_partitioned(connection, table):
        return
    constraints = connection.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype IN ('p', 'u', 'f', 'c') "
        "ORDER BY contype DESC, conname",
        (table,),
    ).fetchall()
    indexes = connection.execute(
        "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i WHERE i.indrelid = %s::regclass "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid "
        "AND c.conrelid = i.indrelid) ORDER BY 1",
        (table,),
    ).fetchall()
    old = f"{table}_unpartitioned"
    connection.execute(f'ALTER TABLE "{table}" RENAME TO "{old}"')
    connection.execute(
        f'CREATE TABLE "{table}" (LIKE "{old}" INCLUDING DEFAULTS INCLUDING STORAGE '
        f'INCLUDING COMMENTS) PARTITION BY HASH ("{column}")'
    )
    for remainder in range(partitions):
        connection.execute(
            f'CREATE TABLE "{table}_p{remainder}" PARTITION OF "{table}" '
            f"FOR VALUES WITH (MODULUS {partitions}, REMAINDER {remainder})"
        )
    connection.execute(f'INSERT INTO "{table}" SELECT * FROM "{old}"')  # noqa: S608 - our names
    connection.execute(f'DROP TABLE "{old}"')  # frees the names of its keys and indexes
    for name, definition in constraints:
        connection.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')
    for (statement,) in indexes:
        connection.execute(statement)
