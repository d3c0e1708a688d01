"""`lender-client tokenize`, `token-key`, `pepper-fingerprint` and `trust-key`: borrower
tokens, the registry's key and the pins."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from lender_client.cache import DISABLED, TokenCache, resolve_cache_path
from lender_client.cli.failures import fail
from lender_client.cli.options import EXIT_USAGE, ID_KIND, get_settings, read_id
from lender_client.cli.render import show_key
from lender_client.errors import (
    ConfigurationError,
    RegistryError,
)
from lender_client.tokens import TokenPair, load_pepper, parse_public_key
from registry_protocol.ids import InvalidIdError


@click.command(short_help="Print the registry token of a borrower's ID.")
@click.argument("kind", type=ID_KIND)
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
    A phone's token is not a borrower token: a borrower is named by cn_resident_id, passport
    or cn_uscc, and a phone number only travels beside it, as the phone_token of a loan
    report or an inquiry (upload's phone column, inquire --phone, which tokenise it
    themselves). Tokenising a phone here is for callers that send phone_token themselves.

    \b
    Examples:
      lender-client tokenize phone "+86 138 0013 8000"
      read -rs ID; printf '%s\\n' "$ID" | lender-client tokenize cn_resident_id -
      lender-client tokenize --both --json phone -
    """
    settings = get_settings(ctx)
    value = read_id(value, "VALUE")
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
            fail(exc, settings)
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


@click.command("token-key")
@click.option("--json", "as_json", is_flag=True, help="Print the registry's JSON as it is.")
@click.pass_context
def token_key(ctx: click.Context, as_json: bool) -> None:
    """Show the registry's token key, any open rotation window, and the pinned keys.

    The first time tokens are made with an empty token cache, the registry's current key is
    pinned (trusted from then on). A different public key for a pinned key id, or a key id
    not seen before (the next key of a rotation), is refused until you trust it with
    trust-key (or run with --trust-new-keys, for new key ids only).
    """
    settings = get_settings(ctx)
    with settings.client() as client:
        try:
            if as_json:
                click.echo(json.dumps(client.token_key(refresh=True).raw, indent=2))
            else:
                show_key(Console(), client)
        except RegistryError as exc:
            fail(exc, settings)


@click.command("pepper-fingerprint")
@click.pass_context
def pepper_fingerprint(ctx: click.Context) -> None:
    """Print the fingerprint of the configured pepper (and of the next one, if set).

    16 hex characters, HMAC-SHA256(pepper, "lender-client pepper fingerprint v1") cut short:
    it names the pepper without revealing it. The consortium gives it to the registry's
    operator (registry keys pepper-fingerprint, or keys rotate --pepper --fingerprint); the
    registry publishes it, and this client then refuses to make tokens with another pepper.
    Needs no registry."""
    settings = get_settings(ctx)
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


@click.command("trust-key")
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
    settings = get_settings(ctx)
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
