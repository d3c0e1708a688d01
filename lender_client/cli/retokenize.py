"""`lender-client retokenize`: re-report the open book with both tokens during a rotation window."""

from __future__ import annotations

import sys

import click

from lender_client.cli.failures import fail
from lender_client.cli.options import EXIT_USAGE, book_file_options, get_settings
from lender_client.cli.upload import run_upload
from lender_client.errors import (
    RegistryError,
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

Rejected rows go to the rejects file, warnings to the warnings file, as with upload; exit
status as with upload.
"""


@click.command(help=RETOKENIZE_HELP, short_help="Re-report your open book with both tokens.")
@book_file_options
@click.pass_context
def retokenize(
    ctx: click.Context,
    file: str,
    fmt: str,
    batch_size: int,
    rejects: str | None,
    warnings_path: str | None,
    no_progress: bool,
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
    run_upload(
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
