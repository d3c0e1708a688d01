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
    with session_scope(write=False) as session:
        rules = {rule.code: rule for rule in session.scalars(select(PolicyRule))}
        table = Table("flag", "threshold", "enabled", "raised when")
        for spec in policy.ENTRIES:
            row = rules.get(spec.code)
            threshold = str(row.threshold if row else spec.default)
            enabled = "yes" if row is None or row.enabled else "no"
            enabled = "(setting)" if spec.setting else enabled
            table.add_row(spec.code, threshold, enabled, spec.meaning)
        console.print(table)


@policy_group.command("set")
@click.argument("code", type=click.Choice(policy.ENTRY_CODES, case_sensitive=False))
@click.argument("threshold", type=click.IntRange(0, policy.MAX_THRESHOLD))
@click.option("--disable", is_flag=True, help="Keep the threshold but raise the flag no more.")
def policy_set(code: str, threshold: int, disable: bool) -> None:
    """Set flag CODE's THRESHOLD (and enable it, unless --disable), or setting CODE
    (stale_after_days, count_stale_loans) to THRESHOLD. Applies to the next inquiry."""
    code = next(c for c in policy.ENTRY_CODES if c.lower() == code.lower())
    problem = policy.threshold_problem(code, str(threshold))
    if problem is not None:
        raise click.BadParameter(f"{code}: {problem}", param_hint="THRESHOLD")
    with session_scope() as session:
        change = policy.set_threshold(
            session, code, threshold, clock.now(), enabled=not disable, actor=audit.CLI
        )
    state = "disabled" if disable else "enabled"
    if not change.changed:
        click.echo(f"{change.code}: unchanged (threshold {threshold}, {state})")
        return
    click.echo(f"{change.code}: threshold {change.old[0]} -> {threshold}, {state}")
