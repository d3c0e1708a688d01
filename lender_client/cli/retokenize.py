"""`lender-client retokenize`: during a rotation window, re-report the book with both tokens
and cover, from the lender's own records, everything else the registry holds for it."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import click

from lender_client.cli.failures import fail
from lender_client.cli.id_files import read_ids
from lender_client.cli.options import (
    EXIT_OK,
    EXIT_REJECTED,
    EXIT_USAGE,
    book_file_options,
    get_settings,
)
from lender_client.cli.upload import upload_file
from lender_client.client import RegistryClient
from lender_client.errors import RegistryError
from lender_client.rotation import PendingTotals, RetokenizeResult

RETOKENIZE_HELP = """Give the registry the next token of every borrower you hold records about,
during a rotation window: re-report your book from FILE with both tokens, then cover your
closed and written-off loans, inquiries and application outcomes from your own records.

When the registry opens a rotation window (a new registry key, or a new consortium pepper),
every borrower token it stores needs its token after the rotation (borrower_next) before
the window can close; nothing that is not covered may be kept. This command:

\b
1. re-reports FILE, your book in the upload format naming borrowers by ID (id_kind,
   id_value columns; rows naming a borrower by token are rejected), with both tokens;
2. reads what the registry still lists as pending for you (GET
   /v1/tokens/rotation/pending: your loans of every status, your inquiries and outcomes
   of the last 2 years, disputes of your loans), tokenises the IDs of FILE and of every
   --ids file, and sends the next token of each pending borrower among them (POST
   /v1/tokens/rotation/mappings). IDs are never sent, only the two tokens;
3. prints what was pending, what it covered and what remains, and writes what remains to
   the remaining file, with your loan_ref or inquiry id to look it up by.

--ids files are your other records: applicants you inquired about, closed loans no longer
in your book. A CSV with a header naming id_kind and id_value (other columns ignored) or
JSON Lines with those members; gzip is recognised.

The command refuses to run (exit status 2) when no rotation window is open. For a pepper
rotation it needs the next pepper (--next-pepper-file or REGISTRY_PEPPER_NEXT_FILE); for a
key rotation the next key must be trusted (trust-key, or --trust-new-keys).

\b
Examples:
  lender-client token-key                      # is a window open? which kind?
  lender-client --next-pepper-file next.hex retokenize book.csv --ids applicants.csv
  lender-client retokenize book.csv --ids closed-2024.csv.gz --ids applicants.jsonl

Rejected rows go to the rejects file, warnings to the warnings file, as with upload. Exit
status 0 when nothing was rejected and nothing remains pending, 1 when rows were rejected
or something remains (see the remaining file), 2 and 3 as with upload.
"""


@click.command(help=RETOKENIZE_HELP, short_help="Cover your records with next tokens.")
@book_file_options
@click.option(
    "--ids",
    "id_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False),
    help="More of your records naming borrowers by ID (id_kind, id_value): applicants, "
    "closed loans. Repeatable.",
)
@click.option(
    "--remaining",
    "remaining_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Where to write what remains pending [default: FILE.pending.csv].",
)
@click.pass_context
def retokenize(
    ctx: click.Context,
    file: str,
    fmt: str,
    batch_size: int,
    rejects: str | None,
    warnings_path: str | None,
    no_progress: bool,
    id_files: tuple[str, ...],
    remaining_path: str | None,
) -> None:
    settings = get_settings(ctx)
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
        before = client.rotation_pending(limit=1).totals
    except RegistryError as exc:
        client.close()
        fail(exc, settings)
    rotation = key.rotation
    click.echo(
        f"{rotation.kind} rotation window open ({rotation.label or 'no label'}): "
        f"re-reporting with tokens under {key.key_id} and the next "
        f"{'pepper' if rotation.kind == 'pepper' else 'key ' + rotation.next.key_id}.",
        err=True,
    )
    # The upload closes the client it is given: the rest has its own.
    status = upload_file(
        ctx,
        file,
        fmt,
        batch_size,
        rejects,
        no_progress,
        warnings_path=warnings_path,
        require_ids=True,
        title="Re-tokenise summary",
        client=client,
    )
    sources = ([file] if file != "-" else []) + list(id_files)  # stdin is read once
    default_remaining = "stdin.pending.csv" if file == "-" else f"{file}.pending.csv"
    with settings.client() as rest:
        try:
            result = rest.retokenize_ids(read_ids(sources))
            remaining = _write_remaining(rest, result, Path(remaining_path or default_remaining))
        except RegistryError as exc:
            fail(exc, settings)
    _print_summary(before, result, remaining)
    if status != EXIT_OK or result.after.total:
        sys.exit(EXIT_REJECTED if status == EXIT_OK else status)


def _write_remaining(client: RegistryClient, result: RetokenizeResult, path: Path) -> Path | None:
    """Write what remains pending to `path` (or remove an earlier such file when nothing
    does); the path written, if any."""
    if not result.after.total:
        path.unlink(missing_ok=True)
        return None
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(
            ["kind", "loan_ref", "inquiry_id", "dispute_id", "status", "created_at", "borrower"]
        )
        for item in client.iter_rotation_pending():
            writer.writerow(
                [
                    item.kind,
                    item.loan_ref or "",
                    item.inquiry_id or "",
                    item.dispute_id or "",
                    item.status or "",
                    item.created_at.isoformat() if item.created_at else "",
                    item.borrower,
                ]
            )
    return path


def _describe(totals: PendingTotals) -> str:
    parts = [f"{n} {status} loans" for status, n in totals.loans.items() if n]
    for label, n in (
        ("inquiries", totals.inquiries),
        ("application outcomes", totals.application_outcomes),
        ("disputes", totals.disputes),
    ):
        if n:
            parts.append(f"{n} {label}")
    return f"{totals.total} ({', '.join(parts)})" if parts else "0"


def _print_summary(before: PendingTotals, result: RetokenizeResult, remaining: Path | None) -> None:
    after = result.after
    mapped = result.mapped
    click.echo("Rotation cover summary")
    click.echo(f"  pending before:   {_describe(before)}")
    click.echo(f"  covered:          {max(0, before.total - after.total)}")
    click.echo(
        f"  IDs read:         {result.ids_read} ({result.ids_invalid} not valid, skipped); "
        f"next tokens sent for {mapped.matched} pending borrowers"
    )
    click.echo(f"  still pending:    {_describe(after)}")
    if remaining is not None:
        click.echo(
            f"What remains is listed in {remaining} (kind, loan_ref, inquiry_id, ...): add "
            "those borrowers' IDs with --ids and run retokenize again."
        )
    else:
        click.echo("Nothing remains pending: everything you hold has its next token.")
