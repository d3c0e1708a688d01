"""`lender-client outcome`: record what came of an application (a new_credit inquiry)."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from lender_client.cli.failures import fail
from lender_client.cli.options import get_settings
from lender_client.errors import RegistryError
from lender_client.models import format_money, format_timestamp
from lender_client.outcomes import ApplicationOutcome, Outcome

OUTCOME_STYLES = {"approved": "bold green", "declined": "bold red", "withdrawn": "yellow"}


@click.command(short_help="Record what came of an application: approved, declined, withdrawn.")
@click.argument("inquiry_id", metavar="INQUIRY_ID")
@click.argument("outcome", type=click.Choice([o.value for o in Outcome]), metavar="OUTCOME")
@click.option(
    "--loan-ref",
    metavar="REF",
    default=None,
    help="approved: your reference of the loan, the one you will report it under.",
)
@click.option(
    "--amount",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="approved: the amount lent, in minor units (300000 = 3,000.00 CNY).",
)
@click.option("--currency", metavar="CODE", help="approved: ISO 4217 currency of --amount.")
@click.option("--json", "as_json", is_flag=True, help="Print the registry's JSON as it is.")
@click.pass_context
def outcome(
    ctx: click.Context,
    inquiry_id: str,
    outcome: str,
    loan_ref: str | None,
    amount: int | None,
    currency: str | None,
    as_json: bool,
) -> None:
    """Record what came of one of your applications: INQUIRY_ID is the id of your new_credit
    inquiry (the first line `lender-client inquire` prints, or inquiry_id in its --json),
    OUTCOME is approved, declined or withdrawn.

    An approved application needs --loan-ref, --amount and --currency: at once, other lenders'
    reports show it as a provisional loan (so that an applicant signing with several lenders
    in one afternoon is seen by the next one), until you report the loan under that
    reference (report it as usual: it then replaces the provisional one) or until the
    registry's provisional_days pass. A declined application is never shown to other
    lenders; declined and withdrawn take none of the three options.

    Recording the same outcome again is safe (the registry answers with what it holds); a
    different outcome for the same inquiry is refused (exit status 3), as are an inquiry that
    is not yours, an account_review inquiry and one more than 30 days old.

    \b
    Examples:
      lender-client outcome 9b2e4c1a-7d3f-4e55-8a0b-2f6d1c9e8a71 approved \\
          --loan-ref L-2026-0042 --amount 300000 --currency CNY
      lender-client outcome 9b2e4c1a-7d3f-4e55-8a0b-2f6d1c9e8a71 declined
      lender-client outcome 9b2e4c1a-7d3f-4e55-8a0b-2f6d1c9e8a71 withdrawn --json
    """
    settings = get_settings(ctx)
    options = {"--loan-ref": loan_ref, "--amount": amount, "--currency": currency}
    given = [name for name, value in options.items() if value is not None]
    if outcome == Outcome.APPROVED:
        missing = [name for name in ("--loan-ref", "--amount", "--currency") if name not in given]
        if missing:
            raise click.UsageError(
                f"an approved application needs {', '.join(missing)}: the loan you will report "
                "(its reference, the amount in minor units, and the currency)"
            )
    elif given:
        raise click.UsageError(
            f"{', '.join(given)} only go with approved: a {outcome} application has no loan"
        )
    if not inquiry_id.strip():
        raise click.BadParameter("must not be empty", param_hint="INQUIRY_ID")
    with settings.client() as client:
        try:
            result = client.record_outcome(
                inquiry_id,
                outcome,
                loan_ref=loan_ref,
                amount=amount,
                currency=currency.upper() if currency else None,
            )
        except ValueError as exc:  # an argument that cannot be sent (not valid Unicode text)
            raise click.UsageError(str(exc)) from None
        except RegistryError as exc:
            fail(exc, settings)
    if as_json:
        click.echo(json.dumps(result.raw, indent=2, ensure_ascii=False))
    else:
        render_outcome(Console(), result)


def render_outcome(console: Console, result: ApplicationOutcome) -> None:
    table = Table(title="Application outcome", show_header=False, title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value")
    table.add_row("Inquiry", result.inquiry_id)
    text = str(result.outcome)
    table.add_row("Outcome", Text(text, style=OUTCOME_STYLES.get(text, "")))
    if result.loan_ref is not None:
        table.add_row("Loan", result.loan_ref)
    if result.amount is not None and result.currency is not None:
        table.add_row("Amount", format_money(result.amount, result.currency))
    table.add_row("Inquired at", format_timestamp(result.inquired_at))
    table.add_row("Recorded at", format_timestamp(result.recorded_at))
    if result.provisional_until is not None:
        table.add_row("Provisional until", format_timestamp(result.provisional_until))
    console.print(table)
    if result.approved:
        console.print(
            f"Other lenders now see a provisional loan until you report {result.loan_ref}.",
            markup=False,
            highlight=False,
        )
