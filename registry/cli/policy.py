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


_SETTING_CODES = ", ".join(spec.code for spec in policy.SETTINGS)


@policy_group.command(
    "set",
    help=(
        "Set flag CODE's THRESHOLD and enable it (--disable keeps the flag's threshold, or sets "
        f"THRESHOLD, and raises it no more), or set a setting CODE ({_SETTING_CODES}) to "
        "THRESHOLD, its value. `registry policy list` shows each one's meaning and range. "
        "Applies to the next inquiry.\n\n"
        "Examples:\n\n"
        "  registry policy set MULTI_LENDER 4\n\n"
        "  registry policy set APPLICATION_BURST --disable\n\n"
        "  registry policy set provisional_days 7"
    ),
)
@click.argument("code", type=click.Choice(policy.ENTRY_CODES, case_sensitive=False))
@click.argument("threshold", type=click.IntRange(0, policy.MAX_THRESHOLD), required=False)
@click.option("--disable", is_flag=True, help="Keep the threshold but raise the flag no more.")
def policy_set(code: str, threshold: int | None, disable: bool) -> None:
    code = next(c for c in policy.ENTRY_CODES if c.lower() == code.lower())
    spec = policy.spec_for(code)
    if disable and spec.setting:
        raise click.UsageError(f"{code} is a setting, always in force: give it a value instead")
    if threshold is None:
        if not disable:
            raise click.UsageError(f"give {code} a THRESHOLD (or --disable to turn a flag off)")
        with session_scope(write=False) as session:
            row = session.get(PolicyRule, code)
            threshold = row.threshold if row is not None else spec.default
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
