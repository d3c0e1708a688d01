"""What every command shares: the settings of the global options, the exit statuses, the
FILE options of `upload` and `retokenize`, and reading an ID from standard input."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from lender_client.borrower_ids import BORROWER_KINDS, PHONE
from lender_client.client import MAX_BATCH_SIZE, RegistryClient
from lender_client.errors import (
    ConfigurationError,
)
from lender_client.retries import DEFAULT_RETRY_FOR
from registry_protocol.ids import ID_KINDS

EXIT_OK = 0
EXIT_REJECTED = 1
EXIT_USAGE = 2
EXIT_API = 3
TOKEN = re.compile(r"[0-9a-f]{64}")
#: Every kind of ID a token can be made of (``tokenize``).
ID_KIND = click.Choice(list(ID_KINDS))
PHONE_IS_NOT_THE_APPLICANT = (
    "phone is a secondary identifier, not the applicant's ID: name the applicant with "
    f"--id-kind {', '.join(BORROWER_KINDS)}, and give the phone number with --phone"
)


class BorrowerKind(click.Choice):  # type: ignore[type-arg]
    """The kinds of ID that name a borrower; ``phone`` is refused with what to do instead."""

    def __init__(self) -> None:
        super().__init__(list(BORROWER_KINDS))

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and value.strip().lower() == PHONE:
            self.fail(PHONE_IS_NOT_THE_APPLICANT, param, ctx)
        return super().convert(value, param, ctx)


#: The kinds of ID that name a borrower (``inquire --id-kind``).
BORROWER_KIND = BorrowerKind()


@dataclass
class Settings:
    url: str
    api_key: str | None
    timeout: float
    retries: int | None
    pepper_file: str | None = None
    next_pepper_file: str | None = None
    token_cache: str | None = None
    trust_new_keys: bool = False
    allow_insecure_http: bool = False
    retry_for: float = DEFAULT_RETRY_FOR

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
                retry_for=self.retry_for,
                pepper=Path(self.pepper_file) if self.pepper_file else None,
                next_pepper=Path(self.next_pepper_file) if self.next_pepper_file else None,
                token_cache=self.token_cache,
                trust_new_keys=self.trust_new_keys,
                # The flag says yes; without it, $REGISTRY_ALLOW_INSECURE_HTTP may.
                allow_insecure_http=True if self.allow_insecure_http else None,
            )
        except ConfigurationError as exc:
            raise click.UsageError(exc.message) from None


RETRY_FOR_HELP = (
    "Keep retrying a request that failed for a passing reason (connection refused or reset, "
    "timeout, an answer cut short, 429, 502, 503, 504) for up to this many seconds, with the "
    "same idempotency key (so nothing is applied twice)."
)


def _set_retry_for(ctx: click.Context, _param: click.Parameter, value: float | None) -> None:
    if value is not None:
        get_settings(ctx).retry_for = value


def retry_for_option() -> click.Option:
    """`--retry-for SECONDS` for a command (the group's own option, given after the command
    name): it sets the settings' `retry_for`."""
    return click.Option(
        ["--retry-for"],
        type=click.FloatRange(min=0),
        default=None,
        metavar="SECONDS",
        expose_value=False,
        callback=_set_retry_for,
        help=RETRY_FOR_HELP + f" [default: {DEFAULT_RETRY_FOR:g}, or lender-client --retry-for]",
    )


def add_retry_for(command: click.Command) -> None:
    """`--retry-for` on a command, and on every command of a group."""
    command.params.append(retry_for_option())
    if isinstance(command, click.Group):
        for subcommand in command.commands.values():
            add_retry_for(subcommand)


def get_settings(ctx: click.Context) -> Settings:
    obj = ctx.find_object(Settings)
    if obj is None:  # pragma: no cover - the group always sets it
        raise click.UsageError("internal error: no settings")
    return obj


def read_id(value: str, what: str) -> str:
    """``value``, or one line of standard input for ``-`` (keeps the ID out of the process
    list and the shell history)."""
    if value != "-":
        return value
    line = sys.stdin.readline()
    if not line.strip():
        raise click.UsageError(f"{what} is '-' but standard input gave no line to read")
    return line.rstrip("\r\n")


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
        click.option(
            "--warnings",
            "warnings_path",
            type=click.Path(dir_okay=False),
            default=None,
            help="Where to write the registry's warnings about accepted rows "
            "[default: FILE.warnings.csv].",
        ),
        click.option("--no-progress", is_flag=True, help="Do not show the progress bar."),
    )
    for decorate in reversed(decorators):
        command = decorate(command)
    return command
