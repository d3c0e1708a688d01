"""`lender-client disputes`: relay a borrower's dispute of a tradeline, list and answer the
disputes of your own records."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TypeVar

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from lender_client.cli.failures import fail
from lender_client.cli.options import get_settings
from lender_client.client import RegistryClient
from lender_client.disputes import STATUS_FILTERS, Dispute, DisputeResolution, OpenedDispute
from lender_client.errors import RegistryError
from lender_client.formatting import format_timestamp

__all__ = ["disputes"]

Shown = TypeVar("Shown", Dispute, OpenedDispute)


@click.group(short_help="Disputes of records: open one, list and answer yours.")
def disputes() -> None:
    """A borrower contests a record through you (open), and you answer the disputes of your
    own records (list, answer) within the registry's dispute_days (20 by default): past the
    deadline the record counts towards no flag and your data-quality score drops.

    \b
    Examples:
      lender-client disputes open 9b2e...8a71 B --reason "never borrowed from this lender"
      lender-client disputes list --status open
      lender-client disputes answer 5c1d...e2f0 confirmed --note "signed contract on file"
    """


@disputes.command("open", short_help="Relay a borrower's dispute of a tradeline.")
@click.argument("inquiry_id", metavar="INQUIRY_ID")
@click.argument("tradeline", metavar="TRADELINE")
@click.option("--reason", required=True, metavar="TEXT", help="What the borrower contests.")
@click.option("--json", "as_json", is_flag=True, help="Print the registry's JSON as it is.")
@click.pass_context
def open_dispute(
    ctx: click.Context, inquiry_id: str, tradeline: str, reason: str, as_json: bool
) -> None:
    """Open a dispute of tradeline TRADELINE (its label: B, or B/2 for the second under B) of
    your report INQUIRY_ID (at most 90 days old). The registry asks the lender whose record it
    is to answer; you never learn which lender that is."""
    _call_and_show(
        ctx,
        lambda client: client.open_dispute(inquiry_id, tradeline, reason),
        render_opened,
        as_json,
    )


@disputes.command("list", short_help="The disputes of your records.")
@click.option(
    "--status",
    type=click.Choice(STATUS_FILTERS),
    default=None,
    help="open (overdue ones included), overdue or answered; all by default.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per line.")
@click.pass_context
def list_disputes(ctx: click.Context, status: str | None, as_json: bool) -> None:
    """The disputes of your records, the most urgent first: your loan, the reason, the
    deadline and, once answered, your answer."""
    settings = get_settings(ctx)
    with settings.client() as client:
        try:
            found = client.list_disputes(status=status)
        except RegistryError as exc:
            fail(exc, settings)
    if as_json:
        for item in found:
            click.echo(json.dumps(item.raw, ensure_ascii=False))
        return
    console = Console()
    for item in found:
        answered = str(item.resolution) + (f" ({item.note})" if item.note else "")
        console.print(
            f"{item.id}\t{item.loan_ref}\t{item.status}\t"
            f"due {format_timestamp(item.due_at)}{' OVERDUE' if item.overdue else ''}\t"
            f"{answered if item.resolution else item.reason}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    click.echo(f"{len(found):,} dispute(s)", err=True)


@disputes.command("answer", short_help="Answer a dispute of your record.")
@click.argument("dispute_id", metavar="ID")
@click.argument(
    "resolution", type=click.Choice([r.value for r in DisputeResolution]), metavar="RESOLUTION"
)
@click.option("--note", default=None, metavar="TEXT", help="What you found (500 characters).")
@click.option("--json", "as_json", is_flag=True, help="Print the registry's JSON as it is.")
@click.pass_context
def answer_dispute(
    ctx: click.Context, dispute_id: str, resolution: str, note: str | None, as_json: bool
) -> None:
    """Answer dispute ID, once. RESOLUTION is confirmed (the record stands), corrected (you
    have sent a correction of the loan since the dispute opened: a report with
    "correction": true) or retracted (you have retracted the loan since it opened)."""
    _call_and_show(
        ctx,
        lambda client: client.answer_dispute(dispute_id, resolution, note=note),
        render_answered,
        as_json,
    )


def _call_and_show(
    ctx: click.Context,
    call: Callable[[RegistryClient], Shown],
    render: Callable[[Console, Shown], None],
    as_json: bool,
) -> None:
    """One dispute call: an argument the SDK refuses is a usage error, a refusal of the
    registry's a failure; its JSON as it is, or rendered."""
    settings = get_settings(ctx)
    with settings.client() as client:
        try:
            shown = call(client)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
        except RegistryError as exc:
            fail(exc, settings)
    if as_json:
        click.echo(json.dumps(shown.raw, indent=2, ensure_ascii=False))
        return
    render(Console(), shown)


def _deadline(item: Dispute | OpenedDispute) -> Text:
    text = format_timestamp(item.due_at)
    if item.overdue:
        return Text(f"{text} OVERDUE", style="bold red")
    return Text(text)


def render_answered(console: Console, answered: Dispute) -> None:
    table = Table(title="Dispute answered", show_header=False, title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    table.add_row("Dispute", answered.id)
    table.add_row("Loan", answered.loan_ref)
    table.add_row("Reason", answered.reason)
    table.add_row("Due by", _deadline(answered))
    table.add_row("Resolution", str(answered.resolution))
    if answered.note:
        table.add_row("Note", answered.note)
    if answered.answered_at is not None:
        table.add_row("Answered at", format_timestamp(answered.answered_at))
    console.print(table)


def render_opened(console: Console, opened: OpenedDispute) -> None:
    table = Table(title="Dispute opened", show_header=False, title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    table.add_row("Dispute", opened.id)
    table.add_row("Tradeline", f"{opened.tradeline} of inquiry {opened.inquiry_id}")
    table.add_row("Reason", opened.reason)
    table.add_row("Opened at", format_timestamp(opened.opened_at))
    table.add_row("Answer due by", _deadline(opened))
    table.add_row("Status", str(opened.status))
    console.print(table)
