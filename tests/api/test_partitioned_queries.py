"""Ready for Citus: on the hash-partitioned schema (`registry.partitioning`), every statement the
hot paths send about one borrower touches one partition of each per-borrower table.

The test builds its own partitioned PostgreSQL database, records every statement the app
sends (SQLAlchemy's `before_cursor_execute`) while a lender uploads two loans of one
borrower, reads one back and asks about the borrower (an outcome, a dispute or a console
view found by its own id is no hot path: on Citus it asks every shard; docs/scaling.md),
running EXPLAIN ANALYZE of each first, with its own parameters, in a savepoint rolled back,
and counts the partitions each plan executes.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from flask import Flask
from sqlalchemy import event

from registry import create_app
from registry.clock import FrozenClock
from registry.db import make_session_factory
from registry.migrations import upgrade
from registry.partitioning import PARTITIONED, partition_schema
from registry.services import lenders
from tests.conftest import EXEMPT_UNTIL
from tests.helpers import NOW, bearer, loan, token

pytestmark = pytest.mark.postgres

ADMIN_URL = os.environ.get("REGISTRY_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PARTITION = re.compile(r"\b(" + "|".join(re.escape(p.table) for p in PARTITIONED) + r")_p(\d+)\b")
STATEMENTS = ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH")
TABLE_WORD = re.compile(r"\b(" + "|".join(re.escape(p.table) for p in PARTITIONED) + r")\b")


@pytest.fixture(scope="module")
def partitioned_url() -> Iterator[str]:
    name = f"registry_test_part_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        upgrade(url)
        assert partition_schema(url, partitions=8) == [p.table for p in PARTITIONED]
        yield url
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def recorded(partitioned_url: str, tmp_path: Path) -> Iterator[tuple[Flask, list[Touch]]]:
    """The app on the partitioned database; each statement naming a per-borrower table is
    first run under EXPLAIN ANALYZE on its own connection (it may read a temporary table of
    the same transaction), inside a savepoint rolled back at once."""
    app = create_app(
        {
            "database_url": partitioned_url,
            "clock": FrozenClock(NOW),
            "oprf_key_dir": str(tmp_path / "keys"),
            "dashboard_cache_seconds": 0,
        }
    )
    app.config["TESTING"] = True
    engine = app.extensions["registry"].engine
    touches: list[Touch] = []

    def explain(_conn: Any, cursor: Any, sql: str, params: Any, _ctx: Any, many: bool) -> None:
        if not TABLE_WORD.search(sql) or not sql.lstrip().upper().startswith(STATEMENTS):
            return
        one = params[0] if many and params else params
        with cursor.connection.cursor() as probe:
            probe.execute("SAVEPOINT partition_probe")
            probe.execute(f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) {sql}", one)
            plan = "\n".join(str(row[0]) for row in probe.fetchall())
            probe.execute("ROLLBACK TO SAVEPOINT partition_probe")
            probe.execute("RELEASE SAVEPOINT partition_probe")
        touches.append(Touch(sql, plan))

    event.listen(engine, "before_cursor_execute", explain)
    yield app, touches
    event.remove(engine, "before_cursor_execute", explain)
    engine.dispose()


@dataclass(frozen=True)
class Touch:
    sql: str
    plan: str

    def partitions(self) -> dict[str, set[str]]:
        """The partitions the plan executed, by table (a pruned one is not listed, one
        pruned at run time says "never executed")."""
        named: dict[str, set[str]] = {}
        for line in self.plan.splitlines():
            if "never executed" in line:
                continue
            for table, number in PARTITION.findall(line):
                named.setdefault(table, set()).add(number)
        return named


def test_each_hot_statement_about_one_borrower_touches_one_partition(
    recorded: tuple[Flask, list[Touch]],
) -> None:
    app, touches = recorded
    session = make_session_factory(app.extensions["registry"].engine)()
    lender, key = lenders.create_lender(session, "alpha", "Alpha", NOW)
    lender.reciprocity_exempt_until = EXEMPT_UNTIL
    other, other_key = lenders.create_lender(session, "beta", "Beta", NOW)
    other.reciprocity_exempt_until = EXEMPT_UNTIL
    session.commit()
    session.close()
    client = app.test_client()
    borrower = token("partitioned-borrower")
    # Another borrower's loan, so that a plan reading every partition would show it.
    for n in range(12):
        records = [loan(f"O-{n}", borrower=token(f"other-{n}"))]
        answer = client.post("/v1/loans", json={"loans": records}, headers=bearer(other_key.secret))
        assert answer.status_code == 200, answer.get_json()
    touches.clear()

    records = [loan("P-1", borrower=borrower), loan("P-2", borrower=borrower, days_past_due=40)]
    answer = client.post("/v1/loans", json={"loans": records}, headers=bearer(key.secret))
    assert answer.status_code == 200, answer.get_json()
    assert client.get("/v1/loans/P-1", headers=bearer(key.secret)).status_code == 200
    asked = client.post(
        "/v1/inquiries",
        json={"borrower": borrower, "purpose": "new_credit", "consent_ref": "c-1"},
        headers=bearer(other_key.secret),
    )
    assert asked.status_code in (200, 201), asked.get_json()
    touched = {table for touch in touches for table in TABLE_WORD.findall(touch.sql)}
    # The hot paths' tables were all seen: the test would notice a path that went quiet.
    # (New history rows go in by COPY, which has no statement to explain: a COPY into a
    # partitioned table routes each row to its token's partition.)
    assert {"loans", "loan_months", "inquiries"} <= touched
    # The plans do name partitions (the schema is partitioned, the pattern finds them).
    assert any(len(touch.partitions().get("loans", ())) == 1 for touch in touches)
    assert any(len(touch.partitions().get("inquiries", ())) == 1 for touch in touches)
    for touch in touches:
        spread = {table: n for table, n in touch.partitions().items() if len(n) > 1}
        assert not spread, f"{touch.sql}\n touches several partitions: {spread}\n{touch.plan}"
