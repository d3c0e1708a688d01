"""`lender-client inquire`: how indebted a borrower (token or ID) is across all lenders."""

from __future__ import annotations

import json

import click
from rich.console import Console

from lender_client.borrower_ids import PHONE, NotABorrowerKindError
from lender_client.cli.failures import fail
from lender_client.cli.options import (
    BORROWER_KIND,
    PHONE_IS_NOT_THE_APPLICANT,
    TOKEN,
    get_settings,
    read_id,
)
from lender_client.cli.render import render_inquiry
from lender_client.errors import (
    RegistryError,
)
from lender_client.models import (
    Purpose,
)
from registry_protocol.ids import InvalidIdError


@click.command(short_help="Ask how indebted a borrower (token or ID) is across all lenders.")
@click.argument("borrower", required=False)
@click.option(
    "--id-kind",
    type=BORROWER_KIND,
    default=None,
    help="Name the applicant by ID instead of BORROWER: the kind of ID (a phone number never "
    "names the applicant: give it with --phone).",
)
@click.option(
    "--id",
    "id_value",
    metavar="VALUE",
    default=None,
    help="The applicant's ID ('-' reads it from standard input); tokenised here, never sent.",
)
@click.option(
    "--phone",
    metavar="NUMBER",
    default=None,
    help="The applicant's phone number, a secondary identifier ('-' reads it from standard "
    "input): tokenised here and sent as phone_token, never sent itself.",
)
@click.option(
    "--consent-ref",
    metavar="REF",
    help="Reference of the applicant's consent to this inquiry (required for new_credit).",
)
@click.option(
    "--purpose",
    type=click.Choice([p.value for p in Purpose]),
    default=Purpose.NEW_CREDIT.value,
    show_default=True,
    help="new_credit for an application, account_review for a loan you already hold.",
)
@click.option(
    "--amount",
    type=click.IntRange(min=0),
    default=None,
    metavar="N",
    help="Amount requested, in minor units (500000 = 5,000.00 CNY).",
)
@click.option("--currency", metavar="CODE", help="ISO 4217 currency of --amount, e.g. CNY.")
@click.option("--json", "as_json", is_flag=True, help="Print the registry's JSON as it is.")
@click.pass_context
def inquire(
    ctx: click.Context,
    borrower: str | None,
    id_kind: str | None,
    id_value: str | None,
    phone: str | None,
    consent_ref: str | None,
    purpose: str,
    amount: int | None,
    currency: str | None,
    as_json: bool,
) -> None:
    """Ask how indebted a borrower is across all lenders: BORROWER (a 64-hex registry token),
    or --id-kind KIND --id VALUE (the ID is turned into the token here; needs the pepper).

    Shows their open loans, outstanding amounts per currency, arrears, write-offs, recent
    borrowing, other lenders' pending applications and provisional loans (approved, not yet
    reported), how many other lenders asked about them in the last hour, day, week, month
    and quarter, identity signals from their phone numbers, and warning flags (MULTI_LENDER,
    APPLICATION_BURST, PENDING_ELSEWHERE, APPLICATION_SPREE, PAST_DUE_ELSEWHERE, SHARED_PHONE,
    WRITTEN_OFF, RAPID_BORROWING, ...).

    A new_credit inquiry is an application: it is recorded and seen by other lenders, it needs
    --consent-ref, and you record what came of it with `lender-client outcome` (its inquiry
    id is printed first). During a token rotation window an inquiry by ID sends both tokens.

    \b
    Examples:
      lender-client inquire 3f9a...c2 --consent-ref APP-2026-0077
      lender-client inquire 3f9a...c2 --consent-ref APP-77 --amount 500000 --currency CNY
      lender-client inquire 3f9a...c2 --purpose account_review --json
      echo "$APPLICANT_ID" | lender-client inquire --id-kind cn_resident_id --id - \\
          --phone "138 0013 8000" --consent-ref APP-79
    """
    settings = get_settings(ctx)
    if (amount is None) != (currency is None):
        # Caught here, not by the registry: an amount means nothing without its currency.
        raise click.UsageError(
            "--amount and --currency go together: give both (the amount in minor units of "
            "that currency) or neither"
        )
    if phone == "-" and id_value == "-":
        raise click.UsageError("only one of --id and --phone can read standard input")
    by_id = id_kind is not None or id_value is not None
    token: str | None = None
    if by_id:
        if borrower is not None:
            raise click.UsageError("give BORROWER (a token) or --id-kind/--id, not both")
        if id_kind is None or id_value is None:
            raise click.UsageError("--id-kind and --id go together")
        id_value = read_id(id_value, "--id")
    else:
        if borrower is None:
            raise click.UsageError("name the applicant: BORROWER (a token) or --id-kind and --id")
        token = borrower.strip().lower()
        if not TOKEN.fullmatch(token):
            raise click.BadParameter(
                "a borrower token is 64 hexadecimal characters", param_hint="BORROWER"
            )
    if phone is not None:
        phone = read_id(phone, "--phone")
    if purpose == Purpose.NEW_CREDIT and not consent_ref:
        raise click.UsageError("--consent-ref is required for a new_credit inquiry")
    with settings.client() as client:
        try:
            report = client.inquire(
                token,
                purpose=purpose,
                consent_ref=consent_ref,
                amount_requested=amount,
                currency=currency.upper() if currency else None,
                id_kind=id_kind,
                id_value=id_value,
                phone=phone,
            )
        except NotABorrowerKindError:  # not reached: --id-kind refuses phone itself
            raise click.BadParameter(PHONE_IS_NOT_THE_APPLICANT, param_hint="--id-kind") from None
        except InvalidIdError as exc:  # names the kind and the reason, never the ID
            hint = "--phone" if exc.kind == PHONE else "--id"
            raise click.BadParameter(str(exc), param_hint=hint) from None
        except ValueError as exc:  # an option that cannot be sent (not valid Unicode text)
            raise click.UsageError(str(exc)) from None
        except RegistryError as exc:
            fail(exc, settings)
    if as_json:
        click.echo(json.dumps(report.raw, indent=2, ensure_ascii=False))
    else:
        console = Console()
        render_inquiry(console, report, amount, currency.upper() if currency else None)
        if purpose == Purpose.NEW_CREDIT:
            console.print(
                "Record what came of this application: lender-client outcome "
                f"{report.inquiry_id} approved --loan-ref REF --amount N --currency CODE "
                "(or declined, withdrawn)",
                markup=False,
                highlight=False,
                style="dim",
            )
