"""Tables and lines the commands print: a loan, an inquiry report, the registry's token key,
the upload summary."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from lender_client.cli.upload_tracker import UploadTracker
from lender_client.client import RegistryClient
from lender_client.models import (
    InquiryReport,
    Loan,
    format_money,
    format_timestamp,
)


def summary_table(tracker: UploadTracker, elapsed: float, title: str = "Upload summary") -> Table:
    summary = tracker.summary
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("what")
    table.add_column("count", justify="right")
    rate = tracker.rows_read / elapsed if elapsed > 0 else 0.0
    table.add_row("Records read", f"{tracker.rows_read:,}")
    style = "bold red" if tracker.rejected_locally else ""
    table.add_row("Rejected locally (not sent)", Text(f"{tracker.rejected_locally:,}", style=style))
    style = "bold red" if tracker.unreadable else ""
    table.add_row("Unreadable rows", Text(f"{tracker.unreadable:,}", style=style))
    table.add_row("Sent to the registry", f"{summary.sent:,}")
    if summary.tokenized:
        table.add_row("Tokenised (named by ID)", f"{summary.tokenized:,}")
    table.add_row("Accepted", Text(f"{summary.accepted:,}", style="green"))
    table.add_row("Unchanged", f"{summary.unchanged:,}")
    table.add_row("Stale (registry holds newer)", f"{summary.stale:,}")
    rejected = summary.rejected_by_registry
    style = "bold red" if rejected else ""
    table.add_row("Rejected by the registry", Text(f"{rejected:,}", style=style))
    table.add_row("Batches", f"{summary.batches:,}")
    table.add_row("Elapsed", f"{elapsed:.1f} s")
    table.add_row("Throughput", f"{rate:,.0f} records/s")
    return table


def loan_table(loan: Loan) -> Table:
    table = Table(title=f"Loan {loan.loan_ref}", show_header=False, title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value")
    status_style = {"open": "green", "closed": "dim", "written_off": "bold red"}.get(
        str(loan.status), ""
    )
    table.add_row("Product", str(loan.product))
    table.add_row("Status", Text(str(loan.status), style=status_style))
    table.add_row("Principal", format_money(loan.principal, loan.currency))
    table.add_row("Outstanding", format_money(loan.outstanding, loan.currency))
    table.add_row("Opened on", loan.opened_on.isoformat())
    table.add_row("Due on", loan.due_on.isoformat() if loan.due_on else "-")
    dpd_style = "bold red" if loan.days_past_due > 0 else ""
    table.add_row("Days past due", Text(str(loan.days_past_due), style=dpd_style))
    table.add_row("As of", format_timestamp(loan.as_of))
    if loan.first_reported_at is not None:
        table.add_row("First reported", format_timestamp(loan.first_reported_at))
    if loan.last_reported_at is not None:
        table.add_row("Last reported", format_timestamp(loan.last_reported_at))
    return table


def money_lines(amounts: dict[str, int]) -> str:
    if not amounts:
        return "none"
    return "\n".join(format_money(v, k) for k, v in sorted(amounts.items()))


def render_inquiry(
    console: Console, report: InquiryReport, amount: int | None, currency: str | None
) -> None:
    """The report as tables. The requested amount shown is the report's own; ``amount`` and
    ``currency`` (what was asked) stand in only for a registry whose reports carry none."""
    s = report.summary
    console.print(Text.assemble(("Inquiry ", "bold"), (report.inquiry_id, "bold")))
    lines = [
        f"Borrower  {report.borrower}",
        f"Purpose   {report.purpose}",
        f"Generated {format_timestamp(report.generated_at)}",
    ]
    if report.requested_known:
        # The registry says what it recorded as requested (newer registries do).
        if report.requested is not None:
            requested = report.requested
            lines.append(f"Requested {format_money(requested.amount, requested.currency)}")
    elif amount is not None:
        lines.append(f"Requested {format_money(amount, currency) if currency else amount}")
    for line in lines:
        console.print(line, markup=False, highlight=False)

    table = Table(title="Across all lenders", show_header=False, title_justify="left")
    table.add_column("what")
    table.add_column("value", justify="right")

    def alarm(value: int) -> Text:
        return Text(f"{value:,}", style="bold red" if value else "")

    table.add_row("Open loans", f"{s.open_loans:,}")
    table.add_row(
        "Lenders with open loans",
        f"{s.lenders_with_open_loans:,} ({s.other_lenders_with_open_loans:,} other)",
    )
    table.add_row("Outstanding", money_lines(s.outstanding))
    table.add_row("Max days past due", alarm(s.max_days_past_due))
    table.add_row("Past-due loans", alarm(s.past_due_loans))
    table.add_row("Written-off loans", alarm(s.written_off_loans))
    table.add_row("Loans opened in the last 30 days", f"{s.loans_opened_last_30d:,}")
    w = s.other_lenders_inquiring
    # Distinct other lenders with a new_credit inquiry, not inquiries: the words and the
    # layout the console's borrower page uses for the same figure.
    table.add_row(
        "Other lenders inquiring (1d/7d/30d/90d)",
        f"{w.last_1d}/{w.last_7d}/{w.last_30d}/{w.last_90d}",
    )
    console.print(table)

    own = Table(title="Your own", show_header=False, title_justify="left")
    own.add_column("what")
    own.add_column("value", justify="right")
    own.add_row("Open loans", f"{report.own.open_loans:,}")
    own.add_row("Outstanding", money_lines(report.own.outstanding))
    console.print(own)

    if report.flags:
        flags = Table(
            title="Flags", show_header=False, title_justify="left", title_style="bold red"
        )
        flags.add_column("code", style="bold red", no_wrap=True)
        flags.add_column("detail")
        for flag in report.flags:
            flags.add_row(str(flag.code), flag.detail)
        console.print(flags)
    else:
        console.print(Text("No flags.", style="bold green"))


def show_key(console: Console, client: RegistryClient) -> None:
    key = client.token_key(refresh=True)
    pins = client.tokenizer.pins()
    table = Table(title="Registry token key", show_header=False, title_justify="left")
    table.add_column("what", style="bold")
    table.add_column("value")
    table.add_row("Suite", f"{key.suite} ({key.mode})")
    table.add_row("Current key", key.key_id)
    table.add_row("Public key", key.public_key)
    table.add_row("Pepper fingerprint", key.pepper_fingerprint or "not published")
    rotation = key.rotation
    if rotation is None:
        table.add_row("Rotation", "none (no window open)")
    else:
        table.add_row("Rotation", Text(f"{rotation.kind} rotation window open", style="bold"))
        table.add_row("Label", rotation.label or "-")
        table.add_row("Opened at", rotation.opened_at or "-")
        table.add_row("Next key", rotation.next.key_id)
        table.add_row("Next public key", rotation.next.public_key_hex)
        if rotation.next_pepper_fingerprint:
            table.add_row("Next pepper fingerprint", rotation.next_pepper_fingerprint)
    table.add_row("Pinned keys", ", ".join(sorted(pins)) or "none")
    cache = client.token_cache
    table.add_row("Token cache", str(cache.path) if cache is not None else "disabled")
    console.print(table)
