"""`registry tokens ...`: an operator's look-up of one ID, and per-lender quotas."""

from __future__ import annotations

from pathlib import Path

import click

from registry.cli.common import clock, session_scope
from registry.cli.keys import signer
from registry.services import audit, lenders, tokens
from registry.services.errors import InvalidInput
from registry_protocol.ids import ID_KINDS


@click.group("tokens")
def tokens_group() -> None:
    """Borrower tokens: look one up from an ID, set a lender's daily evaluation quota."""


def _read_pepper(pepper_file: Path | None) -> bytes:
    text = (
        pepper_file.read_text()
        if pepper_file is not None
        else click.prompt("Consortium pepper (64 hex characters)", hide_input=True)
    )
    return tokens.parse_pepper(text)


@tokens_group.command("lookup")
@click.argument("kind", type=click.Choice(ID_KINDS))
@click.argument("value", required=False)
@click.option(
    "--pepper-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="File holding the consortium pepper; prompted for (hidden) when not given.",
)
@click.option("--reason", required=True, help="Why you look this person up (audited).")
@click.option("--operator", "operator_name", required=True, help="Your operator name (audited).")
def tokens_lookup(
    kind: str, value: str | None, pepper_file: Path | None, reason: str, operator_name: str
) -> None:
    """Turn an ID into its borrower token, e.g. for a dispute. The pepper is asked for now
    and not kept; the look-up is audited (the ID kind and the token, never the ID).

    Leave VALUE out to be asked for it without echo, so that the ID stays out of the shell
    history and the process list."""
    if value is None:
        value = click.prompt(f"{kind} (not shown)", hide_input=True)
    actor = audit.Actor(f"cli:{operator_name}")
    with session_scope() as session:
        try:
            token = tokens.lookup_id(
                session,
                signer(),
                kind,
                value,
                _read_pepper(pepper_file),
                clock.now(),
                actor,
                reason,
            )
        except InvalidInput as exc:
            raise click.ClickException("; ".join(e.message for e in exc.errors)) from None
    click.echo(token)


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
