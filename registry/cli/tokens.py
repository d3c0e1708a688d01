"""`registry tokens ...`: per-lender evaluation quotas.

There is no look-up by ID here: this process holds the token key, and the pepper must never
meet it. An operator looks an ID up in the console, whose page makes the token in the
browser (see docs/privacy.md)."""

from __future__ import annotations

import click

from registry.cli.common import clock, session_scope
from registry.services import audit, lenders, tokens


@click.group("tokens")
def tokens_group() -> None:
    """Borrower tokens: a lender's daily evaluation quota."""


@tokens_group.command("quota")
@click.argument("code")
@click.argument("elements", required=False, type=click.IntRange(min=1))
@click.option("--default", "use_default", is_flag=True, help="Go back to the registry default.")
def tokens_quota(code: str, elements: int | None, use_default: bool) -> None:
    """Show or set lender CODE's daily quota of evaluated elements (each is one guess)."""
    with session_scope() as session:
        lender = lenders.get_lender(session, code)
        if elements is None and not use_default:
            used = tokens.usage_today(session, lender.id, clock.now())
            quota = lender.token_quota_per_day
            shown = f"{quota}" if quota else "the default (REGISTRY_TOKEN_QUOTA_PER_DAY)"
            click.echo(f"{lender.code}: quota {shown}; {used} elements evaluated today (UTC)")
            return
        tokens.set_quota(session, lender, None if use_default else elements, clock.now(), audit.CLI)
        click.echo(f"{lender.code}: daily token quota set to {elements or 'the default'}")


@tokens_group.command(
    "lookup",
    context_settings={"ignore_unknown_options": True},
    add_help_option=False,
)
@click.argument("ignored", nargs=-1, type=click.UNPROCESSED)
def tokens_lookup(ignored: tuple[str, ...]) -> None:
    """Retired: the registry never takes an ID or the pepper (see the message)."""
    raise click.UsageError(
        "a look-up by ID is no longer made by the registry, which never receives an ID or the "
        "consortium pepper: use the console's look-up by ID (the token is computed in your "
        "browser), or `lender-client tokenize KIND -` on a workstation that holds the pepper, "
        "then look the token up in the console. Nothing was read or sent."
    )
