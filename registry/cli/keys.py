"""`registry keys ...`: the OPRF key behind every borrower token, and rotation windows."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from registry.cli.common import clock, console, session_scope, settings
from registry.models import RotationKind
from registry.services import audit, tokens
from registry.signer import Signer, SignerError


def signer() -> Signer:
    config = settings()
    return Signer(Path(config.oprf_key_dir), config.oprf_keys)


@click.group("keys")
def keys_group() -> None:
    """The registry's OPRF key (RFC 9497 VOPRF, ristretto255-SHA512) and its rotation.

    The secret key is a file in REGISTRY_OPRF_KEY_DIR (default var/oprf-keys), readable by
    its owner only, or comes whole from REGISTRY_OPRF_KEYS. It is never stored in the
    database, printed or logged.

    \b
    Rotation, for a new key or a new consortium pepper:
      registry keys rotate [--pepper]   open the window: lenders send two tokens
      lender-client retokenize BOOK     each lender re-reports its open book
      registry keys status              who has not re-reported yet
      registry keys retire              end the window; old tokens and key destroyed
    """


@keys_group.command("init")
@click.option(
    "--if-missing", is_flag=True, help="Do nothing if a key exists (for container start-up)."
)
def keys_init(if_missing: bool) -> None:
    """Create the first key (from a random seed via DeriveKeyPair)."""
    with session_scope() as session:
        if if_missing and tokens.has_current_key(session):
            click.echo("a token key exists; nothing to do")
            return
        try:
            key = tokens.init_key(session, signer(), clock.now(), audit.CLI)
        except SignerError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"token key {key.key_id} created; public key {key.public_key.hex()}")
        click.echo("Give lenders this public key (and key id) to check what they pin.")


@keys_group.command("show")
def keys_show() -> None:
    """The published key and any open rotation window (what GET /v1/tokens/key returns)."""
    with session_scope(write=False) as session:
        info = tokens.key_info(session)
        click.echo(f"current  {info.current.key_id}  {info.current.public_key.hex()}")
        click.echo(f"pepper fingerprint  {info.pepper_fingerprint or '(not recorded)'}")
        if info.rotation:
            window = info.rotation
            click.echo(
                f"next     {window.next.key_id}  {window.next.public_key.hex()}  "
                f"({window.kind} rotation '{window.label}' open since {window.opened_at:%Y-%m-%d})"
            )


@keys_group.command("rotate")
@click.option(
    "--pepper",
    "pepper_change",
    is_flag=True,
    help="Rotate the consortium pepper instead: same registry key, lenders tokenise with "
    "REGISTRY_PEPPER_NEXT as well.",
)
@click.option("--label", default="", help="A note, e.g. 'member left 2026-11'.")
@click.option(
    "--fingerprint",
    default=None,
    help="With --pepper: the new pepper's fingerprint (lender-client pepper-fingerprint), "
    "published so that every SDK checks it has the right new pepper.",
)
def keys_rotate(pepper_change: bool, label: str, fingerprint: str | None) -> None:
    """Open a rotation window: a new key is created (or, with --pepper, a new pepper is
    announced), and every report and inquiry carries both tokens until it is retired."""
    kind = RotationKind.PEPPER if pepper_change else RotationKind.KEY
    with session_scope() as session:
        try:
            rotation = tokens.start_rotation(
                session, signer(), kind, clock.now(), audit.CLI, label, fingerprint
            )
        except SignerError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"{kind.value} rotation window open (next key {rotation.next_key_id}).")
        click.echo("Lenders now re-report their open books: lender-client retokenize BOOK")


@keys_group.command("pepper-fingerprint")
@click.argument("fingerprint")
def keys_pepper_fingerprint(fingerprint: str) -> None:
    """Record the consortium pepper's FINGERPRINT (16 hex, from `lender-client
    pepper-fingerprint` run where the pepper is). It is published with the token key, and
    an SDK whose pepper does not match refuses to make tokens that could never match."""
    with session_scope() as session:
        tokens.set_pepper_fingerprint(session, fingerprint, clock.now(), audit.CLI)
    click.echo(f"pepper fingerprint {fingerprint.strip().lower()} recorded")


@keys_group.command("status")
def keys_status() -> None:
    """Per lender: open loans, and those not yet re-reported with their next token."""
    with session_scope(write=False) as session:
        rotation = tokens.open_rotation(session)
        if rotation is None:
            click.echo("no rotation window is open")
            return
        table = Table("lender", "status", "open loans", "without next token", "done")
        progress = tokens.rotation_progress(session)
        for row in progress:
            table.add_row(
                row.code,
                row.status,
                str(row.open_loans),
                str(row.without_next),
                "yes" if row.done else "no",
            )
        console.print(
            f"{rotation.kind} rotation '{rotation.label}' open since {rotation.opened_at:%Y-%m-%d}"
        )
        console.print(table)
        waiting = [row.code for row in progress if not row.done]
        click.echo(
            "all lenders have re-reported; 'registry keys retire' ends the window"
            if not waiting
            else f"waiting for: {', '.join(waiting)}"
        )


@keys_group.command("retire")
@click.option(
    "--force",
    is_flag=True,
    help="Retire even though some open loans have no next token: those loans are deleted.",
)
@click.confirmation_option(prompt="Retire the old tokens and destroy the old key for good?")
def keys_retire(force: bool) -> None:
    """End the window: every stored token becomes its next token; old ones are destroyed."""
    with session_scope() as session:
        result = tokens.retire_rotation(session, clock.now(), audit.CLI, force=force)
    # Only once the retirement is committed: the old tokens are gone, so is the old key.
    if result.destroyed_key:
        signer().destroy_key(result.destroyed_key)
    click.echo(f"{result.kind} rotation retired: {result.mapped_borrowers} borrowers re-keyed")
    for table, count in result.rewritten.items():
        dropped = result.dropped.get(table, 0)
        click.echo(
            f"  {table}: {count} rows rewritten" + (f", {dropped} deleted" if dropped else "")
        )
    if result.destroyed_key:
        click.echo(f"key {result.destroyed_key} destroyed")


@keys_group.command("cancel")
@click.confirmation_option(prompt="Abandon the rotation window and its next tokens?")
def keys_cancel() -> None:
    """Abandon the window: the next tokens (and a next key) are discarded."""
    with session_scope() as session:
        discarded = tokens.cancel_rotation(session, clock.now(), audit.CLI)
    if discarded:  # once the cancellation is committed
        signer().destroy_key(discarded)
    click.echo("rotation window cancelled")
