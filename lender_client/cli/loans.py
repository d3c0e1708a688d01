"""`lender-client loan` and `lender-client loans`: what the registry holds for your loans."""

from __future__ import annotations

import json

import click
from rich.console import Console

from lender_client.cli.failures import fail
from lender_client.cli.options import get_settings
from lender_client.cli.render import loan_table
from lender_client.errors import (
    RegistryError,
)
from lender_client.models import (
    LoanStatus,
    format_money,
)


@click.command()
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True, help="Print the registry's JSON as it is.")
@click.pass_context
def loan(ctx: click.Context, ref: str, as_json: bool) -> None:
    """Show what the registry holds for your loan REF.

    \b
    Examples:
      lender-client loan L-2026-0001
      lender-client loan L-2026-0001 --json | jq .outstanding
    """
    settings = get_settings(ctx)
    with settings.client() as client:
        try:
            result = client.get_loan(ref)
        except ValueError:  # an empty or unsendable REF (the SDK's words name loan_ref)
            reason = "must not be empty" if not ref else "is not valid Unicode text"
            raise click.BadParameter(reason, param_hint="REF") from None
        except RegistryError as exc:
            fail(exc, settings)
    if as_json:
        click.echo(json.dumps(result.raw, indent=2, ensure_ascii=False))
    else:
        console = Console()
        console.print(loan_table(result))
        console.print(f"Borrower {result.borrower}", markup=False, highlight=False)


@click.command()
@click.option(
    "--status",
    type=click.Choice([s.value for s in LoanStatus]),
    default=None,
    help="Only loans with this status.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per line.")
@click.pass_context
def loans(ctx: click.Context, status: str | None, as_json: bool) -> None:
    """List your loans as the registry holds them (all pages).

    \b
    Examples:
      lender-client loans --status open
      lender-client loans --json > my-loans.jsonl
    """
    settings = get_settings(ctx)
    console = Console()
    count = 0
    with settings.client() as client:
        try:
            for item in client.iter_loans(status=status, page_size=500):
                count += 1
                if as_json:
                    click.echo(json.dumps(item.raw, ensure_ascii=False))
                else:
                    due = item.due_on.isoformat() if item.due_on else "-"
                    console.print(
                        f"{item.loan_ref}\t{item.status}\t"
                        f"{format_money(item.outstanding, item.currency)}\t"
                        f"due {due}\tdpd {item.days_past_due}",
                        markup=False,
                        highlight=False,
                    )
        except RegistryError as exc:
            fail(exc, settings)
    if not as_json:
        click.echo(f"{count:,} loan(s)", err=True)
