"""Tables and lines the commands print: a loan, an inquiry report, the registry's token key,
the upload summary."""

from __future__ import annotations

from decimal import Decimal

from rich.console import Console
from rich.table import Table
from rich.text import Text

from lender_client.cli.upload_tracker import UploadTracker
from lender_client.client import RegistryClient
from lender_client.models import (
    InquiryReport,
    Loan,
    Tradeline,
    format_money,
    format_timestamp,
)

#: The colour of each character of a 24-month payment-status string.
MONTH_STYLES = {
    "N": "dim",
    "0": "green",
    "C": "cyan",
    "1": "yellow",
    "2": "dark_orange",
    "W": "bold white on red",
}
STATUS_STYLES = {
    "open": "green",
    "closed": "dim",
    "written_off": "bold red",
    "provisional": "bold magenta",
}


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
    warned = summary.warnings_count
    table.add_row("Warnings (accepted rows)", Text(f"{warned:,}", style="yellow" if warned else ""))
    table.add_row("Batches", f"{summary.batches:,}")
    table.add_row("Elapsed", f"{elapsed:.1f} s")
    table.add_row("Throughput", f"{rate:,.0f} records/s")
    return table


def loan_table(loan: Loan) -> Table:
    table = Table(title=f"Loan {loan.loan_ref}", show_header=False, title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value")
    status_style = STATUS_STYLES.get(str(loan.status), "")
    table.add_row("Product", str(loan.product))
    table.add_row("Status", Text(str(loan.status), style=status_style))
    table.add_row("Principal", format_money(loan.principal, loan.currency))
    table.add_row("Outstanding", format_money(loan.outstanding, loan.currency))
    table.add_row("Opened on", loan.opened_on.isoformat())
    table.add_row("Due on", loan.due_on.isoformat() if loan.due_on else "-")
    dpd_style = "bold red" if loan.days_past_due > 0 else ""
    table.add_row("Days past due", Text(str(loan.days_past_due), style=dpd_style))
    if loan.credit_limit is not None:
        table.add_row("Credit limit", format_money(loan.credit_limit, loan.currency))
    if loan.scheduled_payment is not None:
        every = f" ({loan.payment_frequency})" if loan.payment_frequency else ""
        table.add_row(
            "Scheduled payment", format_money(loan.scheduled_payment, loan.currency) + every
        )
    if loan.amount_past_due is not None:
        style = "bold red" if loan.amount_past_due > 0 else ""
        table.add_row(
            "Amount past due", Text(format_money(loan.amount_past_due, loan.currency), style=style)
        )
    if loan.closed_on is not None:
        table.add_row("Closed on", loan.closed_on.isoformat())
    if loan.special_event is not None:
        table.add_row("Special event", str(loan.special_event))
    if loan.written_off_amount is not None:
        when = f" on {loan.written_off_on.isoformat()}" if loan.written_off_on else ""
        table.add_row(
            "Written off",
            Text(format_money(loan.written_off_amount, loan.currency) + when, style="bold red"),
        )
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


def months_text(status_24m: str) -> Text:
    """The 24-month string, each month coloured by its state (3 to 7 days-past-due buckets
    red)."""
    text = Text()
    for character in status_24m:
        text.append(character, style=MONTH_STYLES.get(character, "bold red"))
    return text


def tradelines_table(tradelines: list[Tradeline]) -> Table:
    """One row per account: its label (yours marked), product, status (and special event),
    limit and balances."""
    table = Table(title="Tradelines", title_justify="left")
    table.add_column("Lender", no_wrap=True)
    table.add_column("Product", no_wrap=True)
    table.add_column("Status", no_wrap=True)
    table.add_column("Limit", justify="right", no_wrap=True)
    table.add_column("Outstanding", justify="right", no_wrap=True)
    table.add_column("Past due", justify="right", no_wrap=True)
    table.add_column("Days", justify="right", no_wrap=True)
    for line in tradelines:
        status = Text(str(line.status), style=STATUS_STYLES.get(str(line.status), ""))
        if line.special_event:
            status.append(f"\n{line.special_event}", style="italic")
        if line.provisional_until is not None:
            status.append(f"\nuntil {line.provisional_until.isoformat()}", style="italic")
        past_due = line.amount_past_due or 0
        table.add_row(
            label_of(line),
            str(line.product) if line.product is not None else "-",
            status,
            format_money(line.credit_limit, line.currency) if line.credit_limit else "-",
            format_money(line.outstanding, line.currency),
            Text(format_money(past_due, line.currency), style="bold red" if past_due else ""),
            Text(str(line.days_past_due), style="bold red" if line.days_past_due else ""),
        )
    return table


def history_table(tradelines: list[Tradeline]) -> Table:
    """One row per account: when it opened and closed (months), how fresh its latest report
    is, and its 24-month payment-status string."""
    table = Table(title="Payment history", title_justify="left")
    table.add_column("Lender", no_wrap=True)
    table.add_column("Opened", no_wrap=True)
    table.add_column("Closed", no_wrap=True)
    table.add_column("Last report", no_wrap=True)
    table.add_column("Age", justify="right", no_wrap=True)
    table.add_column("Stale", no_wrap=True)
    table.add_column("24 months, oldest first", no_wrap=True)
    for line in tradelines:
        table.add_row(
            label_of(line),
            line.opened_month or "-",
            line.closed_month or "-",
            line.last_reported_on.isoformat() if line.last_reported_on else "-",
            f"{line.age_days} d" if line.age_days is not None else "-",
            Text("stale", style="bold yellow") if line.stale else "",
            months_text(line.status_24m),
        )
    return table


def label_of(line: Tradeline) -> str:
    return f"{line.lender} (you)" if line.own else line.lender


def count_and_money(count: int, amounts: dict[str, int]) -> Text:
    """``2 (8,000.00 CNY)``: a count and its amounts per currency, red when not zero."""
    money = ", ".join(format_money(v, k) for k, v in sorted(amounts.items()))
    text = f"{count:,} ({money})" if money else f"{count:,}"
    return Text(text, style="bold red" if count else "")


def percent_lines(ratios: dict[str, Decimal]) -> str:
    if not ratios:
        return "none"
    return "\n".join(f"{ratio * 100:.1f}% {code}" for code, ratio in sorted(ratios.items()))


def render_inquiry(
    console: Console, report: InquiryReport, amount: int | None, currency: str | None
) -> None:
    """The report as tables. The requested amount shown is the report's own; ``amount`` and
    ``currency`` (what was asked) stand in only for a registry whose reports carry none."""
    s = report.summary
    summary_raw = report.raw.get("summary")
    s_raw = summary_raw if isinstance(summary_raw, dict) else {}
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
    if w.last_1h is not None and w.last_24h is not None:
        table.add_row(
            "Other lenders inquiring (1h/24h/7d/30d/90d)",
            Text(
                f"{w.last_1h}/{w.last_24h}/{w.last_7d}/{w.last_30d}/{w.last_90d}",
                style="bold red" if w.last_1h else "",
            ),
        )
    else:
        table.add_row(
            "Other lenders inquiring (1d/7d/30d/90d)",
            f"{w.last_1d}/{w.last_7d}/{w.last_30d}/{w.last_90d}",
        )
    # Other lenders' applications still open, and those approved but not yet reported.
    if s.pending_applications is not None:
        table.add_row(
            "Pending applications elsewhere (7d)",
            count_and_money(s.pending_applications, s.pending_amount or {}),
        )
    if s.provisional_loans is not None:
        table.add_row(
            "Provisional loans elsewhere",
            count_and_money(s.provisional_loans, s.provisional_amount or {}),
        )
    # The figures that came with tradelines, each shown when the registry sends it.
    if s.worst_days_past_due_12m is not None or s.worst_days_past_due_24m is not None:
        worst_12 = s.worst_days_past_due_12m or 0
        worst_24 = s.worst_days_past_due_24m or 0
        table.add_row(
            "Worst days past due (12m/24m)",
            Text(f"{worst_12}/{worst_24}", style="bold red" if worst_24 else ""),
        )
    if "last_delinquent_on" in s_raw:
        last = s.last_delinquent_on.isoformat() if s.last_delinquent_on else "never"
        table.add_row("Last delinquent on", last)
    if s.written_off_amount is not None:
        table.add_row("Written-off amount", money_lines(s.written_off_amount))
    if s.amount_past_due is not None:
        table.add_row("Amount past due", money_lines(s.amount_past_due))
    if s.monthly_obligations is not None:
        table.add_row("Monthly obligations", money_lines(s.monthly_obligations))
    if s.credit_limit is not None:
        table.add_row("Credit limit (revolving)", money_lines(s.credit_limit))
    if s.utilisation is not None:
        table.add_row("Utilisation (revolving)", percent_lines(s.utilisation))
    if s.outstanding_with_request is not None:
        table.add_row("Outstanding with the request", money_lines(s.outstanding_with_request))
    if s.lenders_opened_30d is not None:
        table.add_row(
            "Lenders that opened loans (30d/90d/180d)",
            f"{s.lenders_opened_30d}/{s.lenders_opened_90d or 0}/{s.lenders_opened_180d or 0}",
        )
    if s.loans_closed_90d is not None:
        table.add_row("Loans closed in the last 90 days", f"{s.loans_closed_90d:,}")
    if s.stale_open_loans is not None:
        style = "bold yellow" if s.stale_open_loans else ""
        table.add_row("Stale open loans", Text(f"{s.stale_open_loans:,}", style=style))
    if report.identity is not None:
        identity = report.identity
        table.add_row("Phones seen with the borrower (90d)", f"{identity.phones_90d:,}")
        style = "bold red" if identity.max_borrowers_per_phone >= 3 else ""
        table.add_row(
            "Most borrowers on one of those phones (90d)",
            Text(f"{identity.max_borrowers_per_phone:,}", style=style),
        )
    console.print(table)

    if report.tradelines:
        console.print(tradelines_table(report.tradelines))
        console.print(history_table(report.tradelines))
        console.print(
            "24 months: N no report, 0 current, C closed, 1 1-30 days past due, 2 31-60, "
            "3 61-90, ... 6 151-180, 7 over 180, W written off",
            markup=False,
            highlight=False,
            style="dim",
        )
    elif report.tradelines_known:
        console.print("No tradelines.")

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
