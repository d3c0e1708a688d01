"""`lender-client retract`: remove a loan reported in error from every report."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from lender_client.cli.failures import fail
from lender_client.cli.options import get_settings
from lender_client.errors import AlreadyRetractedError, RegistryError
from lender_client.models import RetractionReason, format_timestamp


@click.command(short_help="Retract a loan reported in error (DELETE /v1/loans/REF).")
@click.argument("ref")
@click.option(
    "--reason",
    type=click.Choice([r.value for r in RetractionReason]),
    required=True,
    help="Why: reported_in_error (no such loan), wrong_borrower (filed under another "
    "borrower), duplicate (the same loan under two references).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the registry's JSON as it is.")
@click.pass_context
def retract(ctx: click.Context, ref: str, reason: str, as_json: bool) -> None:
    """Retract your loan REF: it and its history leave every report at once.

    The registry keeps a tombstone (who, when, why) for audit; REF can then be reported anew,
    for example under the right borrower. An unknown or already retracted REF is an error
    (exit status 3). The request is retried like any other; if a retry finds REF gone after
    an attempt whose answer was lost, that attempt most likely retracted it: this is said
    on standard error and the exit status is 0 (the registry holds no loan REF either way).

    \b
    Examples:
      lender-client retract L-2026-0001 --reason wrong_borrower
      lender-client upload corrected.csv     # then report it under the right borrower
    """
    settings = get_settings(ctx)
    with settings.client() as client:
        try:
            result = client.retract(ref, reason)
        except ValueError:  # an empty or unsendable REF
            problem = "must not be empty" if not ref else "is not valid Unicode text"
            raise click.BadParameter(problem, param_hint="REF") from None
        except AlreadyRetractedError as exc:
            click.echo(f"note: {exc.message}", err=True)
            return
        except RegistryError as exc:
            fail(exc, settings)
    if as_json:
        click.echo(json.dumps(result.raw, indent=2, ensure_ascii=False))
        return
    table = Table(title=f"Retracted {result.loan_ref}", show_header=False, title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value")
    table.add_row("Loan", result.loan_ref)
    table.add_row("Reason", str(result.reason))
    table.add_row("Retracted at", format_timestamp(result.retracted_at))
    Console().print(table)
