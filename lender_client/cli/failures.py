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

# What the SDK says to do about a missing setting speaks of its keyword arguments
# (``pepper=...``); the command's user gives options and environment variables instead.
SETTING_MISSING = {
    "pepper": (
        "no pepper: tokenising an ID needs the consortium pepper. Give --pepper-file PATH (a "
        "file holding its 64 hex characters), or set REGISTRY_PEPPER_FILE (the same) or "
        "REGISTRY_PEPPER (the hex itself)"
    ),
    "next_pepper": (
        "the registry has opened a pepper rotation window: tokens must also be computed with "
        "the next pepper, and none is configured. Give --next-pepper-file PATH, or set "
        "REGISTRY_PEPPER_NEXT_FILE or REGISTRY_PEPPER_NEXT"
    ),
}


def message_for(exc: RegistryError) -> str:
    """The error's message in the command's words (options and environment variables, not
    the SDK's keyword arguments)."""
    if isinstance(exc, ConfigurationError) and exc.setting in SETTING_MISSING:
        return SETTING_MISSING[exc.setting]
    if isinstance(exc, UntrustedKeyError) and exc.key_id:
        trust = f"`lender-client trust-key {exc.key_id} {exc.public_key}`"
        role = f"{exc.role} " if exc.role else ""
        if exc.pinned_public_key is not None:
            return (
                f"the registry's {role}token key {exc.key_id!r} is not the pinned one: pinned "
                f"{exc.pinned_public_key}, now {exc.public_key}. Refusing to use it. If the "
                f"consortium confirms the change, trust it with {trust}"
            )
        return (
            f"the registry presents a new {role}token key {exc.key_id!r} ({exc.public_key}) that "
            f"this client has not been told to trust. Check it with the consortium, then run "
            f"{trust} (or pass --trust-new-keys)"
        )
    return exc.message


def fail(exc: RegistryError, settings: Settings | None = None) -> NoReturn:
    """Print an API failure as one line (plus its field errors) and exit with status 3 (2 for
    a setting that is missing or wrong, such as no pepper)."""
    if isinstance(exc, ConfigurationError):
        click.echo(f"error: {message_for(exc)}", err=True)
        sys.exit(EXIT_USAGE)
    message = message_for(exc)
    text = f"HTTP {exc.status}: {message}" if exc.status is not None else message
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
