"""The ``lender-client`` command: upload loan reports, look up a loan, inquire about a borrower,
record what came of an application, and turn borrower IDs into registry tokens.

One module per command (or small group of commands); `options` holds what they share,
`render` what they print, `failures` how an error is printed. This one assembles them."""

from __future__ import annotations

import logging
import sys

import click

from lender_client._version import __version__
from lender_client.cli.disputes import disputes
from lender_client.cli.inquire import inquire
from lender_client.cli.loans import loan, loans
from lender_client.cli.options import RETRY_FOR_HELP, Settings, add_retry_for
from lender_client.cli.outcome import outcome
from lender_client.cli.retokenize import retokenize
from lender_client.cli.retract import retract
from lender_client.cli.tokens import pepper_fingerprint, token_key, tokenize, trust_key
from lender_client.cli.upload import upload
from lender_client.client import DEFAULT_BASE_URL
from lender_client.retries import DEFAULT_RETRY_FOR

__all__ = ["cli", "main"]


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
    "--retry-for",
    type=click.FloatRange(min=0),
    envvar="REGISTRY_RETRY_FOR",
    show_envvar=True,
    default=DEFAULT_RETRY_FOR,
    show_default=True,
    metavar="SECONDS",
    help=RETRY_FOR_HELP + " Also accepted after the command's name.",
)
@click.option(
    "--retries",
    type=click.IntRange(min=0),
    default=None,
    help="At most this many retries of a failed request (0: none) [default: as many as "
    "--retry-for allows].",
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
    "--allow-insecure-http",
    is_flag=True,
    help="Allow a plain http:// URL to a host other than this machine (refused by default: "
    "the API key would cross the network readable). Also $REGISTRY_ALLOW_INSECURE_HTTP=1.",
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
    retry_for: float,
    retries: int | None,
    pepper_file: str | None,
    next_pepper_file: str | None,
    token_cache: str | None,
    trust_new_keys: bool,
    allow_insecure_http: bool,
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
      lender-client retract L-2026-0002 --reason wrong_borrower   # reported in error
      lender-client inquire 3f9a...c2 --consent-ref APP-77 --amount 500000 --currency CNY
      lender-client outcome INQUIRY_ID approved --loan-ref L-2026-0042 --amount 500000 \\
          --currency CNY                     # what came of the application
    \b
    Borrowers by ID instead of by token (needs the consortium pepper):
      export REGISTRY_PEPPER_FILE=/etc/lender/pepper.hex     # 64 hex characters, chmod 600
      lender-client tokenize cn_resident_id -                # the ID read from stdin
      lender-client inquire --id-kind cn_resident_id --id - --phone "138 0013 8000" \\
          --consent-ref APP-78                # a phone only beside the ID, never as it
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
        retry_for=retry_for,
        pepper_file=pepper_file,
        next_pepper_file=next_pepper_file,
        token_cache=token_cache,
        trust_new_keys=trust_new_keys,
        allow_insecure_http=allow_insecure_http,
    )


for command in (
    upload,
    loan,
    loans,
    retract,
    inquire,
    outcome,
    tokenize,
    token_key,
    pepper_fingerprint,
    trust_key,
    retokenize,
    disputes,
):
    # `lender-client upload --retry-for 120 ...` as well as `lender-client --retry-for 120 ...`.
    add_retry_for(command)
    cli.add_command(command)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``lender-client`` console script."""
    cli.main(args=argv, prog_name="lender-client")
