"""How a failed call is printed: one line, its field errors, a hint, and the exit status."""

from __future__ import annotations

import sys
from typing import NoReturn

import click

from lender_client.cli.options import EXIT_API, EXIT_USAGE, Settings
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


def fail(exc: RegistryError, settings: Settings | None = None) -> NoReturn:
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
