"""`registry bench-data`: a synthetic book straight into PostgreSQL, with the skew it promises,
keys and indexes rebuilt as they were, and a report the API computes from it."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from registry.cli import main
from registry.services.bench_rows import borrower_token
from tests.helpers import bearer

# The command opens its own connections: its commits must be real.
pytestmark = pytest.mark.committed


def _invoke(database_url: str, monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str]:
    monkeypatch.setenv("REGISTRY_DATABASE_URL", database_url)
    monkeypatch.delenv("REGISTRY_ENV", raising=False)
    result = CliRunner().invoke(main, ["bench-data", *args])
    return result.exit_code, result.output


def _catalogue(engine, table: str) -> list[tuple[str, str]]:
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i "
                "JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = CAST(:t AS regclass) "
                "UNION ALL SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = CAST(:t AS regclass) ORDER BY 1, 2"
            ),
            {"t": table},
        ).all()
    return [(str(name), str(definition)) for name, definition in rows]


@pytest.mark.postgres
def test_bench_data_builds_a_skewed_book_the_registry_reports_on(
    database_url, monkeypatch, tmp_path: Path, bind, client, token_key
) -> None:
    tables = ("loans", "loan_refs", "loan_history", "loan_months", "inquiries")
    before = {table: _catalogue(bind, table) for table in tables}
    keys = tmp_path / "keys.json"
    code, output = _invoke(
        database_url, monkeypatch, "--loans", "3000", "--inquiries", "700", "--lenders", "30",
        "--keys-file", str(keys),
    )  # fmt: skip
    assert code == 0, output
    built = json.loads(keys.read_text())
    assert keys.stat().st_mode & 0o077 == 0  # API keys: owner-only
    assert (built["loans"], built["inquiries"], len(built["lenders"])) == (3000, 700, 30)
    with bind.connect() as connection:

        def count(sql: str) -> int:
            return int(connection.execute(text(sql)).scalar_one())

        assert count("SELECT count(*) FROM loans") == 3000
        assert count("SELECT count(*) FROM loan_refs") == 3000
        assert count("SELECT count(*) FROM inquiries") == 700
        assert count("SELECT count(*) FROM loan_history") == built["history"] >= 3000
        assert count("SELECT count(*) FROM loan_months") == built["months"] >= 3000
        assert count("SELECT count(DISTINCT borrower) FROM loans") == built["borrowers"]
        per_borrower = Counter(
            int(n)
            for (n,) in connection.execute(
                text("SELECT count(DISTINCT lender_id) FROM loans GROUP BY borrower")
            )
        )
        statuses = dict(
            connection.execute(text("SELECT status, count(*) FROM loans GROUP BY status")).all()
        )
        delinquent_months = count("SELECT count(*) FROM loan_months WHERE status IN ('1','2','3')")
    # Most borrowers owe one or two lenders, a tail owes ten to thirty, each loan a lender.
    borrowers = sum(per_borrower.values())
    assert (per_borrower[1] + per_borrower[2]) / borrowers > 0.75
    assert any(n >= 10 for n in per_borrower) and max(per_borrower) <= 30
    assert set(statuses) == {"open", "closed", "written_off"}
    assert delinquent_months > 0
    # Keys and indexes are rebuilt as the migrations made them.
    assert {table: _catalogue(bind, table) for table in tables} == before
    # The registry reports on it: borrower 1's loans, through the API, with a bench key.
    lender = built["lenders"][0]
    asked = client.post(
        "/v1/inquiries",
        json={
            "borrower": borrower_token(1).hex(),
            "purpose": "new_credit",
            "consent_ref": "c-1",
        },
        headers=bearer(lender["key"]),
    )
    assert asked.status_code == 200, asked.get_json()
    with bind.connect() as connection:
        loans_of_1 = connection.execute(
            text("SELECT count(*) FROM loans WHERE borrower = :b"), {"b": borrower_token(1)}
        ).scalar_one()
    assert len(asked.get_json()["tradelines"]) == loans_of_1 >= 1
    # A second build is refused: it fills an empty book only.
    code, output = _invoke(database_url, monkeypatch, "--loans", "10", "--lenders", "30",
                           "--lender-prefix", "again")  # fmt: skip
    assert code == 1 and "empty book" in output


def test_bench_data_refuses_sqlite_and_a_bad_plan(database_url, monkeypatch) -> None:
    if database_url.startswith("sqlite"):
        code, output = _invoke(database_url, monkeypatch, "--loans", "10")
        assert code == 1 and "needs PostgreSQL" in output
    code, output = _invoke(database_url, monkeypatch, "--loans", "10", "--lenders", "5")
    assert code == 1 and "lenders" in output
