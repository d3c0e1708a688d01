"""`registry retention run` and the give-to-get commands (`registry lenders add --exempt-days`,
`registry lenders exempt`) against a real database through the environment. The commands run
on the real clock; the API's test client on the frozen one (NOW), so the data below sits far
enough from either."""

from __future__ import annotations

import re
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from registry.cli import main
from registry.models import AuditEvent, Loan
from tests.helpers import loan, token

KEY = re.compile(r"rk_[a-z0-9]{12}_[A-Za-z0-9_-]{43}")

# Each command opens its own engine on the database: its commits must be real.
pytestmark = pytest.mark.committed


@pytest.fixture
def run(database_url, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REGISTRY_DATABASE_URL", database_url)
    monkeypatch.delenv("REGISTRY_ENV", raising=False)
    runner = CliRunner()

    def invoke(*args: str, ok: bool = True) -> Result:
        result = runner.invoke(main, list(args), catch_exceptions=False)
        assert (result.exit_code == 0) is ok, result.output
        return result

    return invoke


def counted(output: str, kind: str) -> int:
    match = re.search(rf"^{kind}\s+(\d+)\s", output, re.MULTILINE)
    assert match, output
    return int(match.group(1))


def inquire(client: Any, key: str) -> Any:
    body = {"borrower": token(1), "purpose": "new_credit", "consent_ref": "c-1"}
    return client.post("/v1/inquiries", json=body, headers={"Authorization": f"Bearer {key}"})


def test_retention_run_dry_run_then_run(run, client, new_lender, db_session):
    holder = new_lender("holder")
    old = [
        loan(
            "OLD",
            1,
            as_of="2015-03-01T12:00:00Z",
            opened_on="2014-01-01",
            due_on="2015-01-01",
            days_past_due=60,
        ),
        loan(
            "OLD",
            1,
            as_of="2015-04-01T12:00:00Z",
            opened_on="2014-01-01",
            due_on="2015-01-01",
            status="written_off",
            days_past_due=90,
        ),
    ]
    for record in [*old, loan("NEW", 2)]:
        answer = client.post("/v1/loans", json={"loans": [record]}, headers=holder.headers)
        assert answer.get_json()["accepted"] == 1

    dry = run("retention", "run", "--dry-run").output
    assert "dry run" in dry and counted(dry, "loans") == 1 and counted(dry, "loan_history") == 2
    assert set(db_session.scalars(select(Loan.loan_ref))) == {"OLD", "NEW"}
    db_session.rollback()

    done = run("retention", "run").output
    assert counted(done, "loans") == 1 and counted(done, "loan_refs") == 1
    assert counted(done, "inquiries") == 0 and "dry run" not in done
    assert set(db_session.scalars(select(Loan.loan_ref))) == {"NEW"}
    (event,) = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "retention_run"))
    assert event.actor == "cli" and event.details["removed"]["loans"] == 1
    db_session.rollback()

    again = run("retention", "run", "--batch-size", "1").output
    assert counted(again, "loans") == 0


def test_a_lender_added_is_exempt_while_it_onboards(run, client):
    added = run("lenders", "add", "acme", "Acme Credit").output
    (key,) = KEY.findall(added)
    assert "may make new_credit inquiries until" in added
    assert inquire(client, key).status_code == 200
    standing = run("lenders", "exempt", "acme").output
    assert "acme: exempt until" in standing and "allowed" in standing


def test_exempt_until_and_clear(run, client, db_session):
    (key,) = KEY.findall(run("lenders", "add", "late", "Late Finance", "--exempt-days", "0").output)
    refused = inquire(client, key)
    assert refused.status_code == 403
    assert refused.get_json()["type"] == "/problems/reciprocity"
    assert "refused: give to get" in run("lenders", "exempt", "late").output

    shown = run("lenders", "exempt", "late", "--until", "2100-01-01").output
    assert "exempt until 2100-01-01T00:00:00Z" in shown
    assert inquire(client, key).status_code == 200
    assert "not exempt" in run("lenders", "exempt", "late", "--clear").output
    assert inquire(client, key).status_code == 403
    assert "nothing to change" in run("lenders", "exempt", "late", "--clear").output

    past = run("lenders", "exempt", "late", "--until", "2001-01-01").output
    assert "nothing to change" in past and "not exempt" in past  # nothing to end
    assert (
        "Invalid value for '--until'"
        in run("lenders", "exempt", "late", "--until", "soon", ok=False).output
    )
    both = run("lenders", "exempt", "late", "--until", "2100-01-01", "--clear", ok=False)
    assert "not both" in both.output
    assert "no lender" in run("lenders", "exempt", "ghost", "--clear", ok=False).output
    actions = list(
        db_session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.target == "late", AuditEvent.actor == "cli")
            .order_by(AuditEvent.id)
        )
    )
    assert actions.count("lender_exempted") == 1 and actions.count("lender_exemption_ended") == 1
