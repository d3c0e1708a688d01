"""`registry keys ...`: the OPRF key behind every borrower token, and rotation windows."""

from __future__ import annotations

from pathlib import Path

import click

from registry.cli.common import clock, session_scope, settings
from registry.models import RotationKind
from registry.services import audit, tokens
from registry.services.tokens.rotation_drop import drop_mapping
from registry.services.tokens.rotation_status import RotationStatus, rotation_status
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
      lender-client retokenize BOOK --ids APPLICANTS
                                        each lender covers its loans (closed too) and
                                        inquiries (GET /v1/tokens/rotation/pending)
      registry keys status              what blocks the retire, per lender; conflicts
      registry keys drop-mapping --lender CODE
                                        settle a conflict: drop that lender's mapping
      registry keys retire [--force]    end the window; old tokens and key destroyed
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
        click.echo(
            "Lenders now cover what they hold: lender-client retokenize BOOK --ids APPLICANTS"
        )


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
    """Exactly what blocks a retire: per lender, its rows within retention (loans by status,
    inquiries, application outcomes, disputes) that have no next token yet; borrower
    statements nobody mapped; and conflicts between lenders' mappings, with the lenders
    involved (settle them with drop-mapping). Also what the retire removes anyway: phone
    sightings, and inquiries and outcomes past retention (2 years) nobody mapped."""
    with session_scope(write=False) as session:
        rotation = tokens.open_rotation(session)
        if rotation is None:
            click.echo("no rotation window is open")
            return
        status = rotation_status(session, clock.now())
    click.echo(
        f"{rotation.kind} rotation '{rotation.label}' open since {rotation.opened_at:%Y-%m-%d}; "
        f"{status.mapped_borrowers} borrowers mapped so far"
    )
    click.echo("\nRows within retention without a next token (each blocks the retire):")
    header = ("lender", "status", "open", "closed", "written_off", "inquiries", "outcomes")
    widths = (max([6, *(len(b.code) for b in status.lenders)]), 9, 6, 7, 11, 9, 8)
    line = "  ".join([f"{{:<{widths[0]}}}", *(f"{{:>{w}}}" for w in widths[1:])]) + "  {:>8}"
    click.echo("  " + line.format(*header, "disputes"))
    for lender in status.lenders:
        loans = lender.loans
        click.echo(
            "  "
            + line.format(
                lender.code,
                lender.status,
                loans.get("open", 0),
                loans.get("closed", 0),
                loans.get("written_off", 0),
                lender.inquiries,
                lender.application_outcomes,
                lender.disputes,
            )
        )
    click.echo(f"  borrower statements nobody mapped: {status.statements}")
    _echo_conflicts(status)
    click.echo("\nRemoved at the retire in any case:")
    phones = ", ".join(f"{table} {n}" for table, n in status.phones.items())
    click.echo(
        f"  phone sightings ({phones}): keyed by phone tokens made under the old key or "
        "pepper, which cannot be re-keyed; the 90-day signal fills again from new reports"
    )
    expired = ", ".join(f"{table} {n}" for table, n in status.expired.items())
    click.echo(f"  past retention (2 years) and nobody mapped: {expired}")
    waiting = [lender.code for lender in status.blocking]
    if status.ready:
        click.echo("\nnothing blocks: 'registry keys retire' ends the window")
        return
    reasons = []
    if waiting:
        reasons.append(f"waiting for: {', '.join(waiting)} ('lender-client retokenize')")
    if status.statements:
        reasons.append(f"{status.statements} borrower statements")
    if status.conflict_count:
        reasons.append(f"{status.conflict_count} conflicts ('registry keys drop-mapping')")
    click.echo("\nnot ready: " + "; ".join(reasons))


def _echo_conflicts(status: RotationStatus) -> None:
    click.echo(f"\nConflicts between lenders' mappings: {status.conflict_count}")
    for conflict in status.conflicts:
        if conflict.kind == "split":
            click.echo(f"  old token {conflict.token.hex()} has different next tokens:")
            for claim in conflict.claims:
                click.echo(f"    {claim.lender}: {claim.token.hex()[:16]}...")
        else:
            click.echo(f"  next token {conflict.token.hex()[:16]}... given for several borrowers:")
            for claim in conflict.claims:
                click.echo(f"    {claim.lender}: old token {claim.token.hex()}")
    if status.conflict_count > len(status.conflicts):
        click.echo(f"  ... and {status.conflict_count - len(status.conflicts)} more")
    if status.conflict_count:
        click.echo(
            "  Settle each by dropping the wrong lender's mapping: registry keys drop-mapping "
            "--lender CODE [--borrower OLD_TOKEN ...]"
        )


@keys_group.command("drop-mapping")
@click.option(
    "--lender",
    "lender_code",
    required=True,
    metavar="CODE",
    help="The lender whose next tokens are dropped.",
)
@click.option(
    "--borrower",
    "borrowers",
    multiple=True,
    metavar="OLD_TOKEN",
    help="A borrower's current (old) token, 64 hex, as 'keys status' lists it; repeatable. "
    "Without it: every old token of the lender that is in a conflict.",
)
@click.argument("more_borrowers", nargs=-1, metavar="[OLD_TOKEN]...")
@click.option("--reason", default="", help="Why (kept in the audit log).")
@click.option("--operator", "operator_name", default=None, help="Your operator name (audited).")
def keys_drop_mapping(
    lender_code: str,
    borrowers: tuple[str, ...],
    more_borrowers: tuple[str, ...],
    reason: str,
    operator_name: str | None,
) -> None:
    """Settle a conflict: drop the next tokens lender CODE gave for some borrowers (all
    those in a conflict, or the OLD_TOKENs named). Its rows about each such borrower then
    carry the next token the other lenders agree on, so that one member with a wrong pepper
    or key cannot hold the rotation up; where no other lender maps the borrower, its rows
    wait for a next token again. Audited (token_mapping_dropped). A lender that sends its
    wrong next tokens again brings the conflict back: fix its pepper or key first.

    \b
    Example:
      registry keys status                               # conflict: alpha and beta differ
      registry keys drop-mapping --lender beta --reason "beta kept the old pepper"
      registry keys drop-mapping --lender beta --borrower 3f9a...c2
    """
    named = [*borrowers, *more_borrowers]
    actor = audit.Actor(f"cli:{operator_name}") if operator_name else audit.CLI
    with session_scope() as session:
        result = drop_mapping(session, lender_code, named or None, clock.now(), actor, reason)
    rows = ", ".join(f"{kind} {n}" for kind, n in result.rows.items() if n)
    click.echo(f"dropped {result.lender}'s next tokens for {result.tokens} borrower(s) ({rows})")
    click.echo(
        f"  {result.adopted} now follow the next token the other lenders agree on; "
        f"{result.waiting} wait for a next token (no other lender maps them consistently)"
    )


@keys_group.command("retire")
@click.option(
    "--force",
    is_flag=True,
    help="Retire even though rows within retention have no next token: the rows whose "
    "borrower nobody mapped are deleted (printed per table and lender, and audited).",
)
@click.confirmation_option(prompt="Retire the old tokens and destroy the old key for good?")
def keys_retire(force: bool) -> None:
    """End the window: every stored token becomes its next token; old ones are destroyed.

    Refuses while lenders' mappings conflict, and (unless --force) while any row within
    retention has no next token ('registry keys status' lists them). Phone sightings are
    dropped (their phone tokens were made under the old key or pepper), as are inquiries
    and application outcomes past retention that nobody mapped."""
    with session_scope() as session:
        result = tokens.retire_rotation(session, clock.now(), audit.CLI, force=force)
    # Only once the retirement is committed: the old tokens are gone, so is the old key.
    if result.destroyed_key:
        signer().destroy_key(result.destroyed_key)
    click.echo(f"{result.kind} rotation retired: {result.mapped_borrowers} borrowers re-keyed")
    for table, count in result.rewritten.items():
        click.echo(f"  {table}: {count} rows rewritten")
    if result.kept:
        kept = ", ".join(f"{table} {n}" for table, n in result.kept.items())
        click.echo(f"kept under their old token (records of retracted loans): {kept}")
    phones = ", ".join(f"{table} {n}" for table, n in result.phones.items())
    click.echo(f"phone sightings dropped (phone tokens under the old key): {phones}")
    if result.expired:
        expired = ", ".join(f"{table} {n}" for table, n in result.expired.items())
        click.echo(f"past retention and nobody mapped, removed: {expired}")
    if force:
        if result.dropped:
            click.echo(f"FORCED: {result.lost} rows deleted, their borrower mapped by nobody:")
            for table, per_lender in result.dropped.items():
                counts = ", ".join(f"{code} {n}" for code, n in per_lender.items())
                click.echo(f"  {table}: {counts}")
        else:
            click.echo("forced, but nothing was lost: every borrower had a next token")
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
