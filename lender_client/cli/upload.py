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

from lender_client.checkpoint import (
    FileIdentity,
    UploadCheckpoint,
    default_checkpoint_path,
    start_checkpoint,
)
from lender_client.cli.failures import fail
from lender_client.cli.options import (
    EXIT_OK,
    EXIT_REJECTED,
    book_file_options,
    get_settings,
)
from lender_client.cli.render import summary_table
from lender_client.cli.upload_tracker import CheckpointedUpload, RejectsFile, UploadTracker
from lender_client.client import RegistryClient
from lender_client.errors import (
    RegistryError,
)
from lender_client.files import FileFormatError, open_records
from lender_client.models import (
    EXTRA_FIELDS,
    RECORD_FIELDS,
)
from registry_protocol.ids import BORROWER_KINDS


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
  id_kind        the kind of the borrower's ID: {", ".join(BORROWER_KINDS)}
                 (never phone: a phone number does not name a borrower)
  id_value       the ID itself (normalised and turned into a token here; never sent)
  phone          optional: the borrower's phone number, a secondary identifier beside
                 the borrower (turned into a token here, sent as phone_token; never sent)
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
Optional columns, in any order (an empty cell is not sent):
  {", ".join(EXTRA_FIELDS[:4])},
  {", ".join(EXTRA_FIELDS[4:])}
\b
  credit_limit       the limit, in minor units: required for a credit_line (its limit
                     goes here, not in principal: principal is what is drawn); for an
                     instalment loan it is the principal
  scheduled_payment  the instalment due each period, in minor units
  payment_frequency  weekly, biweekly, monthly or single (one repayment at due_on)
  amount_past_due    the amount overdue, in minor units: required when days_past_due > 0,
                     0 otherwise; never more than outstanding
  closed_on          YYYY-MM-DD: required for closed and written_off (the write-off
                     date); not before opened_on nor after as_of
  special_event      extended, restructured, settled_for_less, repaid_after_write_off
                     or transferred
  correction         true to correct the state reported with the same as_of (it then
                     replaces that state instead of being rejected); empty or false for
                     an ordinary report
\b
Example:
  loan_ref,borrower,product,currency,principal,outstanding,opened_on,due_on,status,days_past_due,as_of
  L-1001,3f9a...c2,cash_loan,CNY,500000,320000,2026-03-01,2027-03-01,open,0,2026-11-20T10:00:00Z
\b
A credit line with a 50,000.00 limit, 12,500.00 drawn, 35 days late by 1,000.00:
  loan_ref,borrower,product,currency,principal,outstanding,opened_on,due_on,status,
  days_past_due,as_of,credit_limit,amount_past_due
  L-1003,3f9a...c2,credit_line,CNY,1250000,1250000,2025-12-01,,open,35,2026-11-20T09:00:00Z,
  5000000,100000

\b
By ID (needs the pepper: --pepper-file, REGISTRY_PEPPER_FILE or REGISTRY_PEPPER):
  loan_ref,id_kind,id_value,product,currency,principal,outstanding,opened_on,...
  L-1002,cn_resident_id,11010519491231002X,cash_loan,CNY,500000,...

IDs are normalised, then tokenised with the registry in batches of up to 1,000 (blinded:
the registry never sees them), and cached locally. A row whose ID is not valid is rejected
with the kind and the reason, never the ID. During a rotation window each row is sent with
both tokens (borrower and borrower_next).

JSON Lines: one object per line with the same fields (due_on may be null, the optional
fields null or left out).

Rows the registry rejects, and rows that cannot be parsed at all, are written to the rejects
file (default FILE.rejected.csv) with the columns line, loan_ref, field, message, where line
is the row's line number in FILE (the CSV header is line 1). Fix those rows and upload the
file again.

Rows the registry accepted with a warning (an open loan past its due_on by more than the
grace period with nothing past due and no extended event, for example) are stored, and are
written to the warnings file (default FILE.warnings.csv), with the same columns; the summary
counts them. A warning counts in your data-quality score: check the row.

A request that fails for a passing reason (the registry restarting, its database away for a
moment, the network) is retried for up to --retry-for seconds (60 by default), each batch
with its own idempotency key, so that a batch is never applied twice. The upload keeps a
checkpoint (default FILE.checkpoint.json, --checkpoint PATH elsewhere): the input file's
path, size, time and a digest of each batch the registry acknowledged, with its key. If the
upload stops part-way, run the same command again (or add --resume): the acknowledged
batches are read and checked, not sent, and the summary says how many were skipped. A
changed file voids the checkpoint (the upload then starts over, which is safe); --restart
starts over anyway. The checkpoint is removed when the upload completes.

Exit status 0 if nothing was rejected (warnings or not), 1 if some rows were, 2 on a usage
error, 3 if the registry could not be reached or refused the upload.

\b
Examples:
  lender-client upload book-2026-11-20.csv
  lender-client upload --batch-size 5000 --no-progress big.jsonl
  lender-client upload book.csv.gz            # gzip is recognised
  lender-client upload --resume --retry-for 300 big.csv   # go on after an interruption
  lender-client upload --parallel 2 --batch-size 5000 big.csv   # the fastest here
  export-loans | lender-client upload --format jsonl -
"""


@click.command(help=UPLOAD_HELP, short_help="Report loans from a CSV or JSON Lines file.")
@book_file_options
@click.option(
    "--checkpoint",
    "checkpoint",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="PATH",
    help="Where to keep the upload's checkpoint (the batches the registry acknowledged) "
    "[default: FILE.checkpoint.json].",
)
@click.option(
    "--resume/--restart",
    default=None,
    help="--resume: skip the batches an earlier run of this upload had acknowledged (also "
    "what happens by default when the checkpoint matches FILE). --restart: ignore the "
    "checkpoint and send every batch.",
)
@click.option(
    "--no-checkpoint", is_flag=True, help="Keep no checkpoint (and use none left earlier)."
)
@click.option(
    "--parallel",
    type=click.IntRange(1, 8),
    default=1,
    show_default=True,
    metavar="N",
    help="Batches in flight at once: while the registry stores one, the next is read, "
    "tokenised and encoded here. Counted and checkpointed in file order all the same.",
)
@click.pass_context
def upload(
    ctx: click.Context,
    file: str,
    fmt: str,
    batch_size: int,
    rejects: str | None,
    warnings_path: str | None,
    no_progress: bool,
    checkpoint: str | None,
    resume: bool | None,
    no_checkpoint: bool,
    parallel: int,
) -> None:
    if file == "-" and (checkpoint or resume):
        raise click.UsageError(
            "--checkpoint and --resume need a FILE: standard input cannot be read again"
        )
    if no_checkpoint and (checkpoint or resume):
        raise click.UsageError("--no-checkpoint cannot go with --checkpoint or --resume")
    keep = file != "-" and not no_checkpoint
    sys.exit(
        upload_file(
            ctx,
            file,
            fmt,
            batch_size,
            rejects,
            no_progress,
            warnings_path=warnings_path,
            checkpoint_path=Path(checkpoint or default_checkpoint_path(file)) if keep else None,
            resume=resume,
            batch_size_given=(
                ctx.get_parameter_source("batch_size") != click.core.ParameterSource.DEFAULT
            ),
            parallel=parallel,
        )
    )


def run_upload(
    ctx: click.Context,
    file: str,
    fmt: str,
    batch_size: int,
    rejects: str | None,
    no_progress: bool,
    *,
    warnings_path: str | None = None,
    require_ids: bool = False,
    title: str = "Upload summary",
    client: RegistryClient | None = None,
) -> NoReturn:
    sys.exit(
        upload_file(
            ctx,
            file,
            fmt,
            batch_size,
            rejects,
            no_progress,
            warnings_path=warnings_path,
            require_ids=require_ids,
            title=title,
            client=client,
        )
    )


def upload_file(
    ctx: click.Context,
    file: str,
    fmt: str,
    batch_size: int,
    rejects: str | None,
    no_progress: bool,
    *,
    warnings_path: str | None = None,
    require_ids: bool = False,
    title: str = "Upload summary",
    client: RegistryClient | None = None,
    checkpoint_path: Path | None = None,
    resume: bool | None = None,
    batch_size_given: bool = True,
    parallel: int = 1,
) -> int:
    """Upload FILE and print its summary; the exit status (a failure exits at once). With a
    ``checkpoint_path``, batches acknowledged by an earlier run are skipped (see
    :mod:`lender_client.checkpoint`)."""
    settings = get_settings(ctx)
    client = client or settings.client()
    default_rejects = "stdin.rejected.csv" if file == "-" else f"{file}.rejected.csv"
    rejects_path = Path(rejects or default_rejects)
    if file != "-" and rejects_path.exists() and os.path.samefile(rejects_path, file):
        raise click.UsageError("the rejects file must not be the input file")
    default_warnings = "stdin.warnings.csv" if file == "-" else f"{file}.warnings.csv"
    warns_path = Path(warnings_path or default_warnings)
    if file != "-" and warns_path.exists() and os.path.samefile(warns_path, file):
        raise click.UsageError("the warnings file must not be the input file")
    if warns_path.resolve() == rejects_path.resolve():
        raise click.UsageError("the warnings file must not be the rejects file")
    checkpoint: UploadCheckpoint | None = None
    if checkpoint_path is not None:
        if checkpoint_path.resolve() in {Path(file).resolve(), rejects_path.resolve()}:
            raise click.UsageError("the checkpoint must not be the input or the rejects file")
        try:
            identity = FileIdentity.of(file)
        except OSError as exc:
            raise file_error(file, exc) from None
        fresh = UploadCheckpoint(checkpoint_path, identity, client.base_url, batch_size, fmt)
        checkpoint, note = start_checkpoint(
            fresh,
            resume=resume,
            batch_size_given=batch_size_given,
            rejects_path=rejects_path,
            warnings_path=warns_path,
        )
        batch_size = checkpoint.batch_size
        if note:
            click.echo(note, err=True)

    out = Console()
    err = Console(stderr=True)
    show_progress = not no_progress and err.is_terminal
    rejects_file = RejectsFile(rejects_path)
    warnings_file = RejectsFile(warns_path)
    started = time.monotonic()
    failure: RegistryError | None = None
    interrupted = False
    saved_note: str | None = None
    completed = False

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

        tracker = UploadTracker(
            reader, rejects_file, update, require_ids=require_ids, warnings=warnings_file
        )
        resumable = CheckpointedUpload(checkpoint, tracker) if checkpoint is not None else None
        try:
            with progress:
                client.report_loans(
                    tracker.records(),
                    batch_size=batch_size,
                    on_batch=tracker.on_batch if resumable is None else resumable.on_batch,
                    keep_rejections=False,
                    on_tokens=tokenised,
                    idempotency_key_prefix=None if checkpoint is None else checkpoint.key_prefix,
                    skip_batch=None if resumable is None else resumable.skip_batch,
                    parallel=parallel,
                )
                completed = True
                update()
        except (FileFormatError, OSError) as exc:
            raise file_error(file, exc) from None
        except RegistryError as exc:
            failure = exc
        except KeyboardInterrupt:
            interrupted = True
        finally:
            if resumable is not None:
                resumable.settle()
            if failure is None and not interrupted:
                tracker.flush()
            rejects_file.close()
            warnings_file.close()
            if resumable is not None:
                saved_note = resumable.finish(complete=completed)

    elapsed = time.monotonic() - started
    out.print(summary_table(tracker, elapsed, title))
    if tracker.skipped_batches:
        batches = "batch" if tracker.skipped_batches == 1 else "batches"
        out.print(
            f"{tracker.skipped_batches:,} {batches} already acknowledged, skipped "
            f"({tracker.skipped_records:,} records, per the checkpoint)."
        )
    stats = client.retry_stats
    if stats.retries:
        out.print(
            f"Retried {stats.requests:,} request(s) {stats.retries:,} time(s) after passing "
            f"failures, {stats.waited:.1f} s waited; the longest took {stats.longest:.1f} s."
        )
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
    if warnings_file.records:
        out.print(
            f"{warnings_file.records:,} row(s) accepted with a warning, written to {warns_path} "
            "(columns: line, loan_ref, field, message)"
        )
    elif failure is None and not interrupted and warnings_file.remove_stale():
        out.print(f"No warnings; removed the old {warns_path}.")
    if interrupted:
        click.echo("interrupted: re-running the same upload is safe.", err=True)
        if saved_note:
            click.echo(saved_note, err=True)
        sys.exit(130)
    if failure is not None:
        click.echo(
            "The upload stopped part-way; re-running it is safe (records already reported "
            "count as unchanged).",
            err=True,
        )
        if saved_note:
            click.echo(saved_note, err=True)
        fail(failure, settings)
    return EXIT_REJECTED if rejects_file.records else EXIT_OK
