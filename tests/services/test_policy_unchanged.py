"""Setting a policy rule to what it already is changes nothing (issue 13, item 7): no audit
event, "last changed" stays, and the CLI and the console say so."""

from __future__ import annotations

from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from registry.cli import main
from registry.db import transaction
from registry.models import AuditEvent, PolicyRule
from registry.services import audit, policy
from tests.helpers import NOW


def _rule(db_session, code):
    try:
        row = db_session.get(PolicyRule, code)
        return (row.threshold, row.enabled, row.updated_at) if row else None
    finally:
        db_session.rollback()


def _policy_events(db_session):
    try:
        return db_session.scalars(
            select(AuditEvent).where(AuditEvent.action == "policy_changed")
        ).all()
    finally:
        db_session.rollback()


def test_the_service_changes_nothing_for_the_current_value(db_session):
    with transaction(db_session):
        first = policy.set_threshold(db_session, "MULTI_LENDER", 2, NOW, actor=audit.CLI)
    assert first.changed and first.old == (3, True) and first.new == (2, True)
    later = NOW + timedelta(hours=1)
    with transaction(db_session):
        again = policy.set_threshold(db_session, "MULTI_LENDER", 2, later, actor=audit.CLI)
    assert not again.changed
    assert _rule(db_session, "MULTI_LENDER") == (2, True, NOW)
    assert len(_policy_events(db_session)) == 1


def test_the_value_an_untouched_rule_has_is_no_change(db_session):
    before = _rule(db_session, "WRITTEN_OFF")
    default = next(rule.default for rule in policy.RULES if rule.code == "WRITTEN_OFF")
    with transaction(db_session):
        change = policy.set_threshold(
            db_session, "WRITTEN_OFF", default, NOW + timedelta(days=1), actor=audit.CLI
        )
    assert not change.changed
    assert _rule(db_session, "WRITTEN_OFF") == before
    assert _policy_events(db_session) == []


@pytest.fixture
def run(database_url, monkeypatch):
    monkeypatch.setenv("REGISTRY_DATABASE_URL", database_url)
    monkeypatch.delenv("REGISTRY_ENV", raising=False)
    runner = CliRunner()

    def invoke(*args: str):
        result = runner.invoke(main, list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    return invoke


@pytest.mark.committed  # the command opens its own engine
def test_cli_policy_set_to_the_current_value_says_unchanged(run, db_session):
    assert "threshold 3 -> 4" in run("policy", "set", "MULTI_LENDER", "4")
    changed_at = _rule(db_session, "MULTI_LENDER")
    output = run("policy", "set", "MULTI_LENDER", "4")
    assert "unchanged" in output and "->" not in output
    assert _rule(db_session, "MULTI_LENDER") == changed_at
    assert len(_policy_events(db_session)) == 1
    # Disabling is a change; disabling again is not.
    assert "->" in run("policy", "set", "MULTI_LENDER", "4", "--disable")
    assert "unchanged" in run("policy", "set", "MULTI_LENDER", "4", "--disable")
    assert len(_policy_events(db_session)) == 2


@pytest.mark.committed
def test_cli_disable_alone_keeps_the_threshold_and_settings_need_a_value(database_url, monkeypatch):
    monkeypatch.setenv("REGISTRY_DATABASE_URL", database_url)
    monkeypatch.delenv("REGISTRY_ENV", raising=False)
    runner = CliRunner()
    disabled = runner.invoke(main, ["policy", "set", "APPLICATION_BURST", "--disable"])
    assert disabled.exit_code == 0, disabled.output
    assert "threshold 2 -> 2, disabled" in disabled.output
    missing = runner.invoke(main, ["policy", "set", "provisional_days"])
    assert missing.exit_code == 2 and "give provisional_days a THRESHOLD" in missing.output
    setting = runner.invoke(main, ["policy", "set", "provisional_days", "7", "--disable"])
    assert setting.exit_code == 2 and "always in force" in setting.output
    assert "reciprocity_days" in runner.invoke(main, ["policy", "set", "--help"]).output
