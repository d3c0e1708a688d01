"""The ``lender-client`` command: upload loan reports, look up a loan, inquire about a borrower,
and turn borrower IDs into registry tokens."""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import os
import re
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NoReturn, TypeVar

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
from rich.table import Table
from rich.text import Text

from lender_client._version import __version__
from lender_client.cache import DISABLED, TokenCache, resolve_cache_path
from lender_client.client import DEFAULT_BASE_URL, MAX_BATCH_SIZE, RegistryClient
from lender_client.errors import (
    APIConnectionError,
    AuthenticationError,
    ConfigurationError,
    PermissionDeniedError,
    RegistryError,
    TokenQuotaExceededError,
    TokenVerificationError,
    UntrustedKeyError,
)
from lender_client.files import BadLine, FileFormatError, RecordReader, open_records
from registry_protocol.ids import ID_KINDS, InvalidIdError
from lender_client.models import (
    RECORD_FIELDS,
    BatchResult,
    InquiryReport,
    Loan,
    LoanStatus,
    Purpose,
    UploadSummary,
    format_money,
    format_timestamp,
)
from lender_client.tokens import TokenPair, load_pepper, parse_public_key

__all__ = ["cli", "main"]

EXIT_OK = 0
EXIT_REJECTED = 1
EXIT_USAGE = 2
EXIT_API = 3
REJECTS_HEADER = ("line", "loan_ref", "field", "message")
_TOKEN = re.compile(r"[0-9a-f]{64}")


@dataclass
class Settings:
    url: str
    api_key: str | None
    timeout: float
    retries: int
    pepper_file: str | None = None
    next_pepper_file: str | None = None
    token_cache: str | None = None
    trust_new_keys: bool = False

    def client(self) -> RegistryClient:
        if not self.api_key:
            raise click.UsageError(
                "no API key: pass --api-key KEY or set REGISTRY_API_KEY in the environment"
            )
        try:
            return RegistryClient(
                self.url,
                self.api_key,
                timeout=self.timeout,
                max_retries=self.retries,
                pepper=Path(self.pepper_file) if self.pepper_file else None,
                next_pepper=Path(self.next_pepper_file) if self.next_pepper_file else None,
                token_cache=self.token_cache,
                trust_new_keys=self.trust_new_keys,
            )
        except ConfigurationError as exc:
            raise click.UsageError(exc.message) from None


def _fail(exc: RegistryError, settings: Settings | None = None) -> NoReturn:
    """Print an API failure as one line (plus its field errors) and exit with status 3 (2 for
    a setting that is missing or wrong, such as no pepper)."""
    if isinstance(exc, ConfigurationError):
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(EXIT_USAGE)
    text = f"HTTP {exc.status}: {exc.message}" if exc.status is not None else exc.message
    if exc.request_id:
        text += f" (request id {exc.request_id})"
    click.echo(f"error: {text}", err=True)
    for error in exc.field_errors:
        name = error.field or "(request)"
        click.echo(f"  {name}: {error.message}", err=True)
    hint = None
    if isinstance(exc, AuthenticationError):
        hint = "check the API key given by --api-key or REGISTRY_API_KEY"
    elif isinstance(exc, PermissionDeniedError):
        hint = "this lender may be suspended; contact the registry operator"
    elif isinstance(exc, APIConnectionError) and settings is not None:
        hint = f"is the registry running at {settings.url}? (set --url or REGISTRY_URL)"
    elif isinstance(exc, UntrustedKeyError):
        hint = "tokens are only made under keys you trust: see lender-client trust-key --help"
    elif isinstance(exc, TokenVerificationError):
        hint = "no token was used; report this to the registry operator"
    elif isinstance(exc, TokenQuotaExceededError):
        hint = "the daily quota of token evaluations is used up; cached tokens still work"
    if hint:
        click.echo(f"hint: {hint}", err=True)
    sys.exit(EXIT_API)


def _settings(ctx: click.Context) -> Settings:
    obj = ctx.find_object(Settings)
    if obj is None:  # pragma: no cover - the group always sets it
        raise click.UsageError("internal error: no settings")
    return obj


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--url",
    envvar="REGISTRY_URL",
    show_envvar=True,
    default=DEFAULT_BASE_URL,
    show_default=True,
    metavar="URL",
    help="Base URL of the registry.",
)
@click.option(
    "--api-key",
    envvar="REGISTRY_API_KEY",
    show_envvar=True,
    metavar="KEY",
    help="Your lender API key. Prefer the environment variable: a key given on the command "
    "line is visible to other users of the machine in the process list.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=10.0,
    show_default=True,
    metavar="SECONDS",
    help="Connect and read timeout of each HTTP request.",
)
@click.option(
    "--retries",
    type=click.IntRange(0, 10),
    default=3,
    show_default=True,
    help="Retries of a request that failed for a passing reason (network, 429, 5xx).",
)
@click.option(
    "--pepper-file",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="PATH",
    help="File holding the consortium pepper (64 hex characters), needed to turn IDs into "
    "tokens. Default: $REGISTRY_PEPPER (the hex itself) or $REGISTRY_PEPPER_FILE.",
)
@click.option(
    "--next-pepper-file",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="PATH",
    help="File holding the next pepper, needed only while a pepper rotation window is open. "
    "Default: $REGISTRY_PEPPER_NEXT or $REGISTRY_PEPPER_NEXT_FILE.",
)
@click.option(
    "--token-cache",
    default=None,
    metavar="PATH|none",
    help="SQLite file of cached tokens and trusted registry keys (mode 0600), or 'none'. "
    "Default: $REGISTRY_TOKEN_CACHE, else $XDG_DATA_HOME/lender-client/tokens.sqlite3 "
    "(~/.local/share/...).",
)
@click.option(
    "--trust-new-keys",
    is_flag=True,
    help="Accept and pin a registry token key with an id not seen before (e.g. the next key "
    "of a rotation) without a trust-key first. A changed key for a known id is still refused.",
)
@click.option(
    "-v", "--verbose", is_flag=True, help="Log each HTTP request to stderr (never the key)."
)
@click.version_option(__version__, prog_name="lender-client")
@click.pass_context
def cli(
    ctx: click.Context,
    url: str,
    api_key: str | None,
    timeout: float,
    retries: int,
    pepper_file: str | None,
    next_pepper_file: str | None,
    token_cache: str | None,
    trust_new_keys: bool,
    verbose: bool,
) -> None:
    """Report loans to the debt-sharing registry and ask how indebted an applicant is.

    \b
    Set up once:
      export REGISTRY_URL=https://registry.example.org
      export REGISTRY_API_KEY=...            # your lender's key
    \b
    Then:
      lender-client upload loans.csv         # report (or re-report) your loan book
      lender-client loan L-2026-0001         # what the registry holds for one of your loans
      lender-client inquire 3f9a...c2 --consent-ref APP-77 --amount 500000 --currency CNY
    \b
    Borrowers by ID instead of by token (needs the consortium pepper):
      export REGISTRY_PEPPER_FILE=/etc/lender/pepper.hex     # 64 hex characters, chmod 600
      lender-client tokenize cn_resident_id -                # the ID read from stdin
      lender-client inquire --id-kind phone --id - --consent-ref APP-78
      lender-client upload book.csv      # with id_kind,id_value columns instead of borrower
      lender-client token-key            # the registry's key, pins, any rotation window

    Run "lender-client COMMAND --help" for the details of a command.

    \b
    Exit status: 0 success; 1 some rows were rejected (upload);
    2 usage error (bad option, unreadable file, no API key);
    3 the registry refused the request or could not be reached.
    """
    if verbose:
        logger = logging.getLogger("lender_client")
        for old in [h for h in logger.handlers if getattr(h, "_lender_cli", False)]:
            logger.removeHandler(old)
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        handler._lender_cli = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    ctx.obj = Settings(
        url=url,
        api_key=api_key,
        timeout=timeout,
        retries=retries,
        pepper_file=pepper_file,
        next_pepper_file=next_pepper_file,
        token_cache=token_cache,
        trust_new_keys=trust_new_keys,
    )


# -- upload ----------------------------------------------------------------------------------


@dataclass
class _RejectsFile:
    """Writes rejected rows as they come, opening the file only once there is one."""

    path: Path
    rows: int = 0
    records: int = 0
    _handle: IO[str] | None = None
    _writer: Any = None

    def write(self, line: int, loan_ref: str | None, fields: list[tuple[str, str]]) -> None:
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # backslashreplace: a lone surrogate echoed back in a loan_ref or message must
            # not stop the upload.
            self._handle = self.path.open(
                "w", newline="", encoding="utf-8", errors="backslashreplace"
            )
            self._writer = csv.writer(self._handle)
            self._writer.writerow(REJECTS_HEADER)
        self.records += 1
        for name, message in fields or [("", "rejected")]:
            self._writer.writerow((line, loan_ref or "", name, message))
            self.rows += 1

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def remove_stale(self) -> bool:
        """Remove a rejects file left by an earlier run (only if it is one of ours)."""
        if self._writer is not None or not self.path.is_file():
            return False
        try:
            with self.path.open(encoding="utf-8", newline="") as handle:
                first = handle.readline().strip()
        except (OSError, UnicodeDecodeError):
            return False
        if first != ",".join(REJECTS_HEADER):
            return False
        self.path.unlink()
        return True


@dataclass
class _UploadTracker:
    """Maps the records sent back to their source lines and writes rejections in line order."""

    reader: RecordReader
    rejects: _RejectsFile
    on_progress: Callable[[], None]
    require_ids: bool = False
    records_read: int = 0
    unreadable: int = 0
    ids_tokenized: int = 0
    summary: UploadSummary = field(default_factory=UploadSummary)
    _lines: deque[int] = field(default_factory=deque)
    _bad: list[BadLine] = field(default_factory=list)

    def records(self) -> Iterator[dict[str, Any]]:
        for item in self.reader:
            if isinstance(item, BadLine):
                self.unreadable += 1
                self._bad.append(item)
                continue
            if self.require_ids and "id_kind" not in item.data and "id_value" not in item.data:
                self.unreadable += 1
                field = "borrower" if "borrower" in item.data else "id_kind"
                message = "re-tokenising needs the borrower's ID: id_kind and id_value"
                self._bad.append(BadLine(item.line, message, item.loan_ref, field))
                continue
            self.records_read += 1
            self._lines.append(item.line)
            yield item.data

    def on_batch(self, batch: BatchResult) -> None:
        lines = [self._lines.popleft() for _ in range(batch.size)]
        out: list[tuple[int, str | None, list[tuple[str, str]]]] = []
        for rejection in batch.rejected:
            position = rejection.index - batch.start_index
            line = lines[position] if 0 <= position < len(lines) else 0
            out.append((line, rejection.loan_ref, [(e.field, e.message) for e in rejection.errors]))
        self.summary.add(batch, keep_rejections=False)
        last_line = lines[-1] if lines else 0
        keep: list[BadLine] = []
        for bad in self._bad:
            if bad.line <= last_line:
                out.append((bad.line, bad.loan_ref, [(bad.field, bad.message)]))
            else:
                keep.append(bad)
        self._bad = keep
        for line, ref, errors in sorted(out, key=lambda row: row[0]):
            self.rejects.write(line, ref, errors)
        self.on_progress()

    def flush(self) -> None:
        for bad in sorted(self._bad, key=lambda b: b.line):
            self.rejects.write(bad.line, bad.loan_ref, [(bad.field, bad.message)])
        self._bad = []


def _file_error(file: str, exc: Exception) -> click.UsageError:
    if isinstance(exc, OSError):
        return click.UsageError(f"{exc.filename or file}: {exc.strerror or exc}")
    return click.UsageError(f"{file}: {exc}")


def _summary_table(tracker: _UploadTracker, elapsed: float, title: str = "Upload summary") -> Table:
    summary = tracker.summary
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("what")
    table.add_column("count", justify="right")
    rate = tracker.records_read / elapsed if elapsed > 0 else 0.0
    table.add_row("Records read", f"{tracker.records_read:,}")
    if summary.tokenized:
        table.add_row("Tokenised (named by ID)", f"{summary.tokenized:,}")
    table.add_row("Accepted", Text(f"{summary.accepted:,}", style="green"))
    table.add_row("Unchanged", f"{summary.unchanged:,}")
    table.add_row("Stale (registry holds newer)", f"{summary.stale:,}")
    style = "bold red" if summary.rejected_count else ""
    table.add_row("Rejected by the registry", Text(f"{summary.rejected_count:,}", style=style))
    style = "bold red" if tracker.unreadable else ""
    table.add_row("Unreadable rows", Text(f"{tracker.unreadable:,}", style=style))
    table.add_row("Batches", f"{summary.batches:,}")
    table.add_row("Elapsed", f"{elapsed:.1f} s")
    table.add_row("Throughput", f"{rate:,.0f} records/s")
    return table


F = TypeVar("F", bound=Callable[..., Any])


def book_file_options(command: F) -> F:
    """The FILE argument and the options `upload` and `retokenize` share."""
    decorators = (
        click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True)),
        click.option(
            "--format",
            "fmt",
            type=click.Choice(["auto", "csv", "jsonl"]),
            default="auto",
            show_default=True,
            help="File format; auto goes by the extension (.csv, .jsonl), else by the content.",
        ),
        click.option(
            "--batch-size",
            type=click.IntRange(1, MAX_BATCH_SIZE),
            default=1000,
            show_default=True,
            help="Records per request.",
        ),
        click.option(
            "--rejects",
            type=click.Path(dir_okay=False),
            default=None,
            help="Where to write rejected rows [default: FILE.rejected.csv].",
        ),
        click.option("--no-progress", is_flag=True, help="Do not show the progress bar."),
    )
    for decorate in reversed(decorators):
        command = decorate(command)
    return command


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


@cli.command(help=UPLOAD_HELP, short_help="Report loans from a CSV or JSON Lines file.")
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
    _run_upload(ctx, file, fmt, batch_size, rejects, no_progress)


def _run_upload(
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
    settings = _settings(ctx)
    client = client or settings.client()
    default_rejects = "stdin.rejected.csv" if file == "-" else f"{file}.rejected.csv"
    rejects_path = Path(rejects or default_rejects)
    if file != "-" and rejects_path.exists() and os.path.samefile(rejects_path, file):
        raise click.UsageError("the rejects file must not be the input file")

    out = Console()
    err = Console(stderr=True)
    show_progress = not no_progress and err.is_terminal
    rejects_file = _RejectsFile(rejects_path)
    started = time.monotonic()
    failure: RegistryError | None = None
    interrupted = False

    with client, contextlib.ExitStack() as stack:
        try:
            reader = stack.enter_context(open_records(file, fmt))
        except (FileFormatError, OSError) as exc:
            raise _file_error(file, exc) from None
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
            rate = tracker.records_read / elapsed if elapsed > 0 else 0.0
            progress.update(
                task,
                description="Uploading",
                completed=reader.position,
                records=tracker.records_read,
                ids=tracker.ids_tokenized,
                rate=rate,
            )

        def tokenised(count: int) -> None:
            tracker.ids_tokenized += count
            progress.update(
                task,
                description="Tokenising",
                completed=reader.position,
                records=tracker.records_read,
                ids=tracker.ids_tokenized,
            )

        tracker = _UploadTracker(reader, rejects_file, update, require_ids=require_ids)
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
            raise _file_error(file, exc) from None
        except RegistryError as exc:
            failure = exc
        except KeyboardInterrupt:
            interrupted = True
        finally:
            if failure is None and not interrupted:
                tracker.flush()
            rejects_file.close()

    elapsed = time.monotonic() - started
    out.print(_summary_table(tracker, elapsed, title))
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
        _fail(failure, settings)
    sys.exit(EXIT_REJECTED if rejects_file.records else EXIT_OK)


# -- loan ------------------------------------------------------------------------------------


def _loan_table(loan: Loan) -> Table:
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


@cli.command()
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
    settings = _settings(ctx)
    with settings.client() as client:
        try:
            result = client.get_loan(ref)
        except ValueError as exc:  # an empty or unsendable REF
            raise click.BadParameter(str(exc), param_hint="REF") from None
        except RegistryError as exc:
            _fail(exc, settings)
    if as_json:
        click.echo(json.dumps(result.raw, indent=2, ensure_ascii=False))
    else:
        console = Console()
        console.print(_loan_table(result))
        console.print(f"Borrower {result.borrower}", markup=False, highlight=False)


@cli.command()
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
    settings = _settings(ctx)
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
            _fail(exc, settings)
    if not as_json:
        click.echo(f"{count:,} loan(s)", err=True)


# -- inquire ---------------------------------------------------------------------------------


def _money_lines(amounts: dict[str, int]) -> str:
    if not amounts:
        return "none"
    return "\n".join(format_money(v, k) for k, v in sorted(amounts.items()))


def _render_inquiry(
    console: Console, report: InquiryReport, amount: int | None, currency: str | None
) -> None:
    s = report.summary
    console.print(Text.assemble(("Inquiry ", "bold"), (report.inquiry_id, "bold")))
    lines = [
        f"Borrower  {report.borrower}",
        f"Purpose   {report.purpose}",
        f"Generated {format_timestamp(report.generated_at)}",
    ]
    if amount is not None:
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
    table.add_row("Outstanding", _money_lines(s.outstanding))
    table.add_row("Max days past due", alarm(s.max_days_past_due))
    table.add_row("Past-due loans", alarm(s.past_due_loans))
    table.add_row("Written-off loans", alarm(s.written_off_loans))
    table.add_row("Loans opened in the last 30 days", f"{s.loans_opened_last_30d:,}")
    w = s.other_lenders_inquiring
    table.add_row(
        "Inquiries by other lenders 1d / 7d / 30d / 90d",
        f"{w.last_1d} / {w.last_7d} / {w.last_30d} / {w.last_90d}",
    )
    console.print(table)

    own = Table(title="Your own", show_header=False, title_justify="left")
    own.add_column("what")
    own.add_column("value", justify="right")
    own.add_row("Open loans", f"{report.own.open_loans:,}")
    own.add_row("Outstanding", _money_lines(report.own.outstanding))
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


def _read_id(value: str, what: str) -> str:
    """``value``, or one line of standard input for ``-`` (keeps the ID out of the process
    list and the shell history)."""
    if value != "-":
        return value
    line = sys.stdin.readline()
    if not line.strip():
        raise click.UsageError(f"{what} is '-' but standard input gave no line to read")
    return line.rstrip("\r\n")


_KIND = click.Choice(list(ID_KINDS))


@cli.command(short_help="Ask how indebted a borrower (token or ID) is across all lenders.")
@click.argument("borrower", required=False)
@click.option(
    "--id-kind",
    type=_KIND,
    default=None,
    help="Name the applicant by ID instead of BORROWER: the kind of ID.",
)
@click.option(
    "--id",
    "id_value",
    metavar="VALUE",
    default=None,
    help="The applicant's ID ('-' reads it from standard input); tokenised here, never sent.",
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
    consent_ref: str | None,
    purpose: str,
    amount: int | None,
    currency: str | None,
    as_json: bool,
) -> None:
    """Ask how indebted a borrower is across all lenders: BORROWER (a 64-hex registry token),
    or --id-kind KIND --id VALUE (the ID is turned into the token here; needs the pepper).

    Shows their open loans, outstanding amounts per currency, arrears, write-offs, recent
    borrowing and how many other lenders asked about them lately, with warning flags
    (MULTI_LENDER, APPLICATION_SPREE, PAST_DUE_ELSEWHERE, WRITTEN_OFF, RAPID_BORROWING).
    A new_credit inquiry is recorded and seen by other lenders; it needs --consent-ref.
    During a token rotation window an inquiry by ID sends both tokens.

    \b
    Examples:
      lender-client inquire 3f9a...c2 --consent-ref APP-2026-0077
      lender-client inquire 3f9a...c2 --consent-ref APP-77 --amount 500000 --currency CNY
      lender-client inquire 3f9a...c2 --purpose account_review --json
      echo "$APPLICANT_ID" | lender-client inquire --id-kind cn_resident_id --id - \\
          --consent-ref APP-79
    """
    settings = _settings(ctx)
    by_id = id_kind is not None or id_value is not None
    token: str | None = None
    if by_id:
        if borrower is not None:
            raise click.UsageError("give BORROWER (a token) or --id-kind/--id, not both")
        if id_kind is None or id_value is None:
            raise click.UsageError("--id-kind and --id go together")
        id_value = _read_id(id_value, "--id")
    else:
        if borrower is None:
            raise click.UsageError("name the applicant: BORROWER (a token) or --id-kind and --id")
        token = borrower.strip().lower()
        if not _TOKEN.fullmatch(token):
            raise click.BadParameter(
                "a borrower token is 64 hexadecimal characters", param_hint="BORROWER"
            )
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
            )
        except InvalidIdError as exc:  # names the kind and the reason, never the ID
            raise click.BadParameter(str(exc), param_hint="--id") from None
        except ValueError as exc:  # an option that cannot be sent (not valid Unicode text)
            raise click.UsageError(str(exc)) from None
        except RegistryError as exc:
            _fail(exc, settings)
    if as_json:
        click.echo(json.dumps(report.raw, indent=2, ensure_ascii=False))
    else:
        _render_inquiry(Console(), report, amount, currency.upper() if currency else None)


# -- tokens ----------------------------------------------------------------------------------


@cli.command(short_help="Print the registry token of a borrower's ID.")
@click.argument("kind", type=_KIND)
@click.argument("value")
@click.option(
    "--both",
    is_flag=True,
    help="Also print the token after the rotation (borrower_next) while a rotation window is open.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
@click.pass_context
def tokenize(ctx: click.Context, kind: str, value: str, both: bool, as_json: bool) -> None:
    """Print the registry token of a borrower's ID: KIND and VALUE ('-' reads VALUE from
    standard input, which keeps it out of the process list and the shell history).

    \b
    The token is the same at every member lender, and nobody without the consortium pepper
    and the registry's help can compute it:
      1. the ID is normalised (e.g. a resident ID's check digit is verified, a phone number
         is written +8613800138000),
      2. HMAC-SHA256 with the pepper (--pepper-file / REGISTRY_PEPPER_FILE / REGISTRY_PEPPER),
      3. a verifiable oblivious PRF with the registry's key (RFC 9497, ristretto255): the
         value is blinded before it is sent, and the registry's proof is checked against
         the key this client trusts (see trust-key),
      4. the first 32 bytes of the result, as 64 hex characters.
    Tokens are cached locally (--token-cache); the ID is never sent nor stored.

    \b
    KIND is one of: cn_resident_id (18 characters, or 15 digits of the first generation),
    phone (E.164, or a Chinese mobile number without +86), passport (ISSUING_COUNTRY:NUMBER
    with the ISO 3166 alpha-3 country), cn_uscc (unified social credit code).

    \b
    Examples:
      lender-client tokenize phone "+86 138 0013 8000"
      read -rs ID; printf '%s\\n' "$ID" | lender-client tokenize cn_resident_id -
      lender-client tokenize --both --json phone -
    """
    settings = _settings(ctx)
    value = _read_id(value, "VALUE")
    with settings.client() as client:
        try:
            rotation = None
            if both:
                pair = client.tokenize_pairs([(kind, value)])[0]
                rotation = client.token_key().rotation
            else:
                pair = TokenPair(client.tokenize(kind, value))
        except InvalidIdError as exc:
            raise click.BadParameter(str(exc), param_hint="VALUE") from None
        except RegistryError as exc:
            _fail(exc, settings)
    if as_json:
        data: dict[str, Any] = {"borrower": pair.borrower}
        if both:
            data["borrower_next"] = pair.borrower_next
            data["rotation"] = rotation.kind if rotation is not None else None
        click.echo(json.dumps(data))
    elif both:
        click.echo(f"borrower       {pair.borrower}")
        if pair.borrower_next is not None:
            click.echo(f"borrower_next  {pair.borrower_next}")
        else:
            click.echo("no rotation window is open: there is no next token", err=True)
    else:
        click.echo(pair.borrower)


def _show_key(console: Console, client: RegistryClient) -> None:
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


@cli.command("token-key")
@click.option("--json", "as_json", is_flag=True, help="Print the registry's JSON as it is.")
@click.pass_context
def token_key(ctx: click.Context, as_json: bool) -> None:
    """Show the registry's token key, any open rotation window, and the pinned keys.

    The first time tokens are made with an empty token cache, the registry's current key is
    pinned (trusted from then on). A different public key for a pinned key id, or a key id
    not seen before (the next key of a rotation), is refused until you trust it with
    trust-key (or run with --trust-new-keys, for new key ids only).
    """
    settings = _settings(ctx)
    with settings.client() as client:
        try:
            if as_json:
                click.echo(json.dumps(client.token_key(refresh=True).raw, indent=2))
            else:
                _show_key(Console(), client)
        except RegistryError as exc:
            _fail(exc, settings)


@cli.command("pepper-fingerprint")
@click.pass_context
def pepper_fingerprint(ctx: click.Context) -> None:
    """Print the fingerprint of the configured pepper (and of the next one, if set).

    16 hex characters, HMAC-SHA256(pepper, "lender-client pepper fingerprint v1") cut short:
    it names the pepper without revealing it. The consortium gives it to the registry's
    operator (registry keys pepper-fingerprint, or keys rotate --pepper --fingerprint); the
    registry publishes it, and this client then refuses to make tokens with another pepper.
    Needs no registry."""
    settings = _settings(ctx)
    try:
        current = load_pepper(Path(settings.pepper_file) if settings.pepper_file else None)
        upcoming = load_pepper(
            Path(settings.next_pepper_file) if settings.next_pepper_file else None,
            next_pepper=True,
        )
    except ConfigurationError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    if current is None:
        click.echo(
            "error: no pepper configured (--pepper-file, REGISTRY_PEPPER_FILE or REGISTRY_PEPPER)",
            err=True,
        )
        sys.exit(EXIT_USAGE)
    click.echo(f"current  {current.fingerprint}")
    if upcoming is not None:
        click.echo(f"next     {upcoming.fingerprint}")


@cli.command("trust-key")
@click.argument("key_id")
@click.argument("public_key")
@click.pass_context
def trust_key(ctx: click.Context, key_id: str, public_key: str) -> None:
    """Trust the registry token key KEY_ID with PUBLIC_KEY (64 hex), pinning it in the token
    cache. Check both with the consortium by another channel first: a key you trust is
    what proves that the registry computes everyone's tokens the same way.

    \b
    When to use it:
      - the registry opens a key rotation window: its next key is new to this client, and
        tokens (and uploads by ID) fail with "new next token key" until it is trusted;
      - the operator announces that a key id has a new public key (a re-keyed registry).
    "lender-client token-key" shows the keys the registry presents.

    \b
    Example:
      lender-client trust-key k2026b 8c3d...e1
    """
    settings = _settings(ctx)
    try:
        raw = parse_public_key(public_key)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="PUBLIC_KEY") from None
    if not key_id.strip():
        raise click.BadParameter("must not be empty", param_hint="KEY_ID")
    path = resolve_cache_path(settings.token_cache)
    if path is None:
        raise click.UsageError(
            f"the token cache is disabled (--token-cache {DISABLED}): a pin would be "
            "forgotten when this command ends. Give a --token-cache path."
        )
    try:
        cache = TokenCache(path)
    except OSError as exc:
        raise click.UsageError(f"cannot open the token cache {path}: {exc}") from None
    try:
        before = cache.pins().get(key_id.strip())
        cache.pin(key_id.strip(), raw.hex(), "trust_key")
    finally:
        cache.close()
    if before is None:
        click.echo(f"Trusted token key {key_id.strip()} (pinned in {path}).")
    elif before == raw.hex():
        click.echo(f"Token key {key_id.strip()} was already trusted with this public key.")
    else:
        click.echo(
            f"Token key {key_id.strip()} now trusted with the new public key "
            f"(was {before}); pinned in {path}."
        )


RETOKENIZE_HELP = """Re-report your open book from FILE with both tokens, during a rotation window.

When the registry opens a rotation window (a new registry key, or a new consortium pepper),
every lender re-reports its open loans with each borrower's token before and after the
rotation (borrower and borrower_next), so that the registry can link them. FILE is your
own book in the upload format, naming borrowers by ID (id_kind, id_value columns): tokens
cannot be re-derived without the ID. Rows naming a borrower by token are rejected.

The command refuses to run (exit status 2) when no rotation window is open. For a pepper
rotation it needs the next pepper (--next-pepper-file or REGISTRY_PEPPER_NEXT_FILE); for a
key rotation the next key must be trusted (trust-key, or --trust-new-keys).

\b
Examples:
  lender-client token-key                      # is a window open? which kind?
  lender-client --next-pepper-file next.hex retokenize open-book.csv

Rejected rows go to the rejects file as with upload; exit status as with upload.
"""


@cli.command(help=RETOKENIZE_HELP, short_help="Re-report your open book with both tokens.")
@book_file_options
@click.pass_context
def retokenize(
    ctx: click.Context,
    file: str,
    fmt: str,
    batch_size: int,
    rejects: str | None,
    no_progress: bool,
) -> None:
    settings = _settings(ctx)
    client = settings.client()
    try:
        key = client.token_key(refresh=True)
        if key.rotation is None:
            client.close()
            click.echo(
                "error: no rotation window is open at the registry: there is nothing to "
                "re-tokenise (lender-client token-key shows the key state)",
                err=True,
            )
            sys.exit(EXIT_USAGE)
        client.tokenizer.targets(both=True)  # the next pepper or key is usable
    except RegistryError as exc:
        client.close()
        _fail(exc, settings)
    rotation = key.rotation
    click.echo(
        f"{rotation.kind} rotation window open ({rotation.label or 'no label'}): "
        f"re-reporting with tokens under {key.key_id} and the next "
        f"{'pepper' if rotation.kind == 'pepper' else 'key ' + rotation.next.key_id}.",
        err=True,
    )
    _run_upload(
        ctx,
        file,
        fmt,
        batch_size,
        rejects,
        no_progress,
        require_ids=True,
        title="Re-tokenise summary",
        client=client,
    )


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``lender-client`` console script."""
    cli.main(args=argv, prog_name="lender-client")
