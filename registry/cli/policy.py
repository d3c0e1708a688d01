"""`registry policy ...`: the flag thresholds every inquiry is judged by."""

from __future__ import annotations

import click
from rich.table import Table
from sqlalchemy import select

from registry.cli.common import clock, console, session_scope
from registry.models import PolicyRule
from registry.services import audit, policy


@click.group("policy")
def policy_group() -> None:
    """The flag thresholds applied to every inquiry."""


@policy_group.command("list")
def policy_list() -> None:
    """Each flag, its threshold, and how the threshold is compared."""
    with session_scope() as session:
        rules = {rule.code: rule for rule in session.scalars(select(PolicyRule))}
        table = Table("flag", "threshold", "enabled", "raised when")
        for spec in policy.RULES:
            row = rules.get(spec.code)
            threshold = str(row.threshold if row else spec.default)
            enabled = "yes" if row is None or row.enabled else "no"
            table.add_row(spec.code, threshold, enabled, spec.meaning)
        console.print(table)


@policy_group.command("set")
@click.argument("code", type=click.Choice(policy.RULE_CODES, case_sensitive=False))
@click.argument("threshold", type=click.IntRange(1, 100_000))
@click.option("--disable", is_flag=True, help="Keep the threshold but raise the flag no more.")
def policy_set(code: str, threshold: int, disable: bool) -> None:
    """Set flag CODE's THRESHOLD (and enable it, unless --disable). Applies to the next inquiry."""
    with session_scope() as session:
        old, new = policy.set_threshold(
            session, code.upper(), threshold, clock.now(), enabled=not disable, actor=audit.CLI
        )
        session.commit()
        state = "disabled" if disable else "enabled"
        click.echo(f"{code.upper()}: threshold {old} -> {new}, {state}")
