"""`lender-client upload`: report the loans of a CSV or JSON Lines file, in batches."""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path
from typing import NoReturn

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    SpinnerColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

from lender_client.cli.failures import fail
from lender_client.cli.options import (
    EXIT_OK,
    EXIT_REJECTED,
    book_file_options,
    get_settings,
)
from lender_client.cli.render import summary_table
from lender_client.cli.upload_tracker import RejectsFile, UploadTracker
from lender_client.client import RegistryClient
from lender_client.errors import (
    RegistryError,
)
from lender_client.files import FileFormatError, open_records
from lender_client.models import (
    RECORD_FIELDS,
)
from registry_protocol.ids import ID_KINDS


def file_error(file: str, exc: Exception) -> click.UsageError:
    if isinstance(exc, OSError):
        return click.UsageError(f"{exc.filename or file}: {exc.strerror or exc}")
    return click.UsageError(f"{file}: {exc}")


UPLOAD_HELP = f"""Report the loans in FILE (CSV or JSON Lines; "-" reads standard input).

The file is streamed in batches of --batch-size records, so it can be of any size. Each row
is the current state of one of your loans; report every loan again whenever it changes (or
daily). Re-running an upload is safe: loans the registry already holds as they are count as
"unchanged", and a report older than the one held counts as "stale".

\b
CSV: a header row naming the columns, in any order:
  {", ".join(RECORD_FIELDS[:6])},
  {", ".join(RECORD_FIELDS[6:])}
\b
  loan_ref       your reference for the loan, 1-64 characters
  borrower       the borrower's registry token: 64 lowercase hex characters, or else
  id_kind        the kind of the borrower's ID: {", ".join(ID_KINDS)}
  id_value       the ID itself (normalised and turned into a token here; never sent)
  product        cash_loan, installment, credit_line, bnpl, auto, mortgage or other
  currency       ISO 4217 code, e.g. CNY
  principal      amount lent, in minor units (fen/cents): 500000 = 5,000.00 CNY
  outstanding    amount still owed, in minor units
  opened_on      YYYY-MM-DD
  due_on         YYYY-MM-DD; may be empty (or the column left out) for a credit_line
  status         open, closed or written_off
  days_past_due  whole days overdue, 0 if current
  as_of          when this state was true, ISO 8601 UTC, e.g. 2026-11-20T10:00:00Z
\b
Example:
  loan_ref,borrower,product,currency,principal,outstanding,opened_on,due_on,status,days_past_due,as_of
  L-1001,3f9a...c2,cash_loan,CNY,500000,320000,2026-03-01,2027-03-01,open,0,2026-11-20T10:00:00Z

\b
By ID (needs the pepper: --pepper-file, REGISTRY_PEPPER_FILE or REGISTRY_PEPPER):
  loan_ref,id_kind,id_value,product,currency,principal,outstanding,opened_on,...
  L-1002,cn_resident_id,11010519491231002X,cash_loan,CNY,500000,...

IDs are normalised, then tokenised with the registry in batches of up to 1,000 (blinded:
the registry never sees them), and cached locally. A row whose ID is not valid is rejected
with the kind and the reason, never the ID. During a rotation window each row is sent with
both tokens (borrower and borrower_next).

JSON Lines: one object per line with the same fields (due_on may be null).

Rows the registry rejects, and rows that cannot be parsed at all, are written to the rejects
file (default FILE.rejected.csv) with the columns line, loan_ref, field, message, where line
is the row's line number in FILE (the CSV header is line 1). Fix those rows and upload the
file again. Exit status 0 if nothing was rejected, 1 if some rows were, 2 on a usage error,
3 if the registry could not be reached or refused the upload.

\b
Examples:
  lender-client upload book-2026-11-20.csv
  lender-client upload --batch-size 5000 --no-progress big.jsonl
  lender-client upload book.csv.gz            # gzip is recognised
  export-loans | lender-client upload --format jsonl -
"""


@click.command(help=UPLOAD_HELP, short_help="Report loans from a CSV or JSON Lines file.")
@book_file_options
@click.pass_context
def upload(
    ctx: click.Context,
    file: str,
    fmt: str,
    batch_size: int,
    rejects: str | None,
    no_progress: bool,
) -> None:
    run_upload(ctx, file, fmt, batch_size, rejects, no_progress)


def run_upload(
    ctx: click.Context,
    file: str,
    fmt: str,
    batch_size: int,
    rejects: str | None,
    no_progress: bool,
    *,
    require_ids: bool = False,
    title: str = "Upload summary",
    client: RegistryClient | None = None,
) -> NoReturn:
    settings = get_settings(ctx)
    client = client or settings.client()
    default_rejects = "stdin.rejected.csv" if file == "-" else f"{file}.rejected.csv"
    rejects_path = Path(rejects or default_rejects)
    if file != "-" and rejects_path.exists() and os.path.samefile(rejects_path, file):
        raise click.UsageError("the rejects file must not be the input file")

    out = Console()
    err = Console(stderr=True)
    show_progress = not no_progress and err.is_terminal
    rejects_file = RejectsFile(rejects_path)
    started = time.monotonic()
    failure: RegistryError | None = None
    interrupted = False

    with client, contextlib.ExitStack() as stack:
        try:
            reader = stack.enter_context(open_records(file, fmt))
        except (FileFormatError, OSError) as exc:
            raise file_error(file, exc) from None
        progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description:<10}[/]"),
            BarColumn(),
            TaskProgressColumn(),
            DownloadColumn(),
            TextColumn("{task.fields[records]:>10,} records"),
            TextColumn("{task.fields[ids]:>10,} IDs tokenised"),
            TextColumn("{task.fields[rate]:>8,.0f} rec/s"),
            TimeElapsedColumn(),
            console=err,
            disable=not show_progress,
        )
        task = progress.add_task("Uploading", total=reader.total_bytes, records=0, ids=0, rate=0.0)

        def update() -> None:
            elapsed = time.monotonic() - started
            rate = tracker.rows_read / elapsed if elapsed > 0 else 0.0
            progress.update(
                task,
                description="Uploading",
                completed=reader.position,
                records=tracker.rows_read,
                ids=tracker.ids_tokenized,
                rate=rate,
            )

        def tokenised(count: int) -> None:
            tracker.ids_tokenized += count
            progress.update(
                task,
                description="Tokenising",
                completed=reader.position,
                records=tracker.rows_read,
                ids=tracker.ids_tokenized,
            )

        tracker = UploadTracker(reader, rejects_file, update, require_ids=require_ids)
        try:
            with progress:
                client.report_loans(
                    tracker.records(),
                    batch_size=batch_size,
                    on_batch=tracker.on_batch,
                    keep_rejections=False,
                    on_tokens=tokenised,
                )
                update()
        except (FileFormatError, OSError) as exc:
            raise file_error(file, exc) from None
        except RegistryError as exc:
            failure = exc
        except KeyboardInterrupt:
            interrupted = True
        finally:
            if failure is None and not interrupted:
                tracker.flush()
            rejects_file.close()

    elapsed = time.monotonic() - started
    out.print(summary_table(tracker, elapsed, title))
    if rejects_file.records:
        out.print(
            f"{rejects_file.records:,} rejected row(s) written to {rejects_path} "
            "(columns: line, loan_ref, field, message)"
        )
    elif failure is None and not interrupted:
        if rejects_file.remove_stale():
            out.print(f"Nothing rejected; removed the old {rejects_path}.")
        else:
            out.print("Nothing rejected.")
    if interrupted:
        click.echo("interrupted: re-running the same upload is safe.", err=True)
        sys.exit(130)
    if failure is not None:
        click.echo(
            "The upload stopped part-way; re-running it is safe (records already reported "
            "count as unchanged).",
            err=True,
        )
        fail(failure, settings)
    sys.exit(EXIT_REJECTED if rejects_file.records else EXIT_OK)
