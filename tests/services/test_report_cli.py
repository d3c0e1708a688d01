"""`registry lenders exit` and the policy's settings in `registry policy` (issue 9)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from registry.cli import main
from registry.models import AuditEvent, Lender, PolicyRule

# Each command opens its own engine on the database: its commits must be real.
pytestmark = pytest.mark.committed


@pytest.fixture
def run(database_url, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REGISTRY_DATABASE_URL", database_url)
    monkeypatch.delenv("REGISTRY_ENV", raising=False)
    runner = CliRunner()

    def invoke(*args: str, code: int = 0):
        result = runner.invoke(main, list(args), catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result

    return invoke


def test_lenders_exit_marks_the_lender_once_and_audits_it(run, db_session):
    run("lenders", "add", "leaving", "Leaving Finance")
    first = run("lenders", "exit", "leaving").output
    assert "leaving has exited" in first and "stale from now on" in first
    assert "had already exited" in run("lenders", "exit", "leaving").output
    assert "exited" in run("lenders", "list").output
    run("lenders", "exit", "nobody", code=1)
    lender = db_session.scalar(select(Lender).where(Lender.code == "leaving"))
    assert lender is not None and lender.exited_at is not None
    actions = db_session.scalars(
        select(AuditEvent.action).where(AuditEvent.target == "leaving")
    ).all()
    assert actions.count("lender_exited") == 1
    db_session.rollback()


def test_policy_lists_and_sets_the_settings(run, db_session):
    listing = run("policy", "list").output
    for code in ("stale_after_days", "count_stale_loans", "LOAN_CYCLING", "PAST_DUE_HISTORY"):
        assert code in listing
    assert (
        "stale_after_days: threshold 35 -> 20"
        in run("policy", "set", "stale_after_days", "20").output
    )
    assert "unchanged" in run("policy", "set", "stale_after_days", "20").output
    run("policy", "set", "count_stale_loans", "1")
    run("policy", "set", "count_stale_loans", "2", code=2)  # 0 or 1 only
    run("policy", "set", "HIGH_UTILISATION", "0", code=2)  # a flag's threshold is 1 or more
    rows = dict(db_session.execute(select(PolicyRule.code, PolicyRule.threshold)).tuples().all())
    db_session.rollback()
    assert rows["stale_after_days"] == 20 and rows["count_stale_loans"] == 1
