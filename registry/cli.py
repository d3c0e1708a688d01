"""`registry`: the operator's command line (database, lenders, demo data, development server)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click
from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.clock import SystemClock
from registry.config import ConfigError, Settings
from registry.db import make_engine, make_session_factory
from registry.models import LenderStatus, PolicyRule
from registry.services import lenders, policy
from registry.services.errors import ServiceError

console = Console()
_clock = SystemClock()


def _settings() -> Settings:
    try:
        return Settings.from_env().validated()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


@contextmanager
def _session() -> Iterator[Session]:
    engine = make_engine(_settings().database_url)
    session = make_session_factory(engine)()
    try:
        yield session
    except ServiceError as exc:
        session.rollback()
        raise click.ClickException(str(exc)) from None
    finally:
        session.close()
        engine.dispose()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Run and administer the debt-sharing registry.

    Configuration comes from the environment: REGISTRY_DATABASE_URL (default
    sqlite:///var/registry.db; PostgreSQL: postgresql://user@host/db), REGISTRY_SECRET_KEY,
    REGISTRY_ENV (development or production).

    \b
    First start:   registry db upgrade && registry demo && registry serve
    Onboard:       registry lenders add acme "Acme Credit"
    """


@main.group()
def db() -> None:
    """Database schema (Alembic migrations)."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
def db_upgrade(revision: str) -> None:
    """Create or upgrade the schema. Safe to run on every start."""
    from registry.migrations import current_revision, upgrade

    url = _settings().database_url
    upgrade(url, revision)
    click.echo(f"database at revision {current_revision(url)}")


@main.group("lenders")
def lenders_group() -> None:
    """Member lenders and their API keys."""


def _print_key(code: str, secret: str) -> None:
    console.print(f"API key for [bold]{code}[/bold] (shown once; store it now):")
    click.echo(secret)


@lenders_group.command("add")
@click.argument("code")
@click.argument("name")
def lenders_add(code: str, name: str) -> None:
    """Onboard a lender; prints its first API key once.

    CODE is short and lower-case (e.g. acme); NAME is the full name."""
    with _session() as session:
        lender, key = lenders.create_lender(session, code, name, _clock.now())
        session.commit()
        _print_key(lender.code, key.secret)


@lenders_group.command("list")
def lenders_list() -> None:
    """Lenders with their status, active key prefixes and open loans."""
    with _session() as session:
        table = Table("code", "name", "status", "active keys", "open loans", "since")
        for row in lenders.list_lenders(session):
            table.add_row(
                row.code,
                row.name,
                row.status,
                ", ".join(row.active_keys) or "-",
                str(row.open_loans),
                row.created_at.date().isoformat(),
            )
        console.print(table)


def _set_status(code: str, status: LenderStatus) -> None:
    with _session() as session:
        lender = lenders.get_lender(session, code)
        lenders.set_status(session, lender, status, _clock.now())
        session.commit()
        click.echo(f"{lender.code} is now {status}")


@lenders_group.command("suspend")
@click.argument("code")
def lenders_suspend(code: str) -> None:
    """Suspend CODE: its keys get 403 until it is reactivated."""
    _set_status(code, LenderStatus.SUSPENDED)


@lenders_group.command("reactivate")
@click.argument("code")
def lenders_reactivate(code: str) -> None:
    """Reactivate a suspended lender."""
    _set_status(code, LenderStatus.ACTIVE)


@lenders_group.command("new-key")
@click.argument("code")
@click.option("--label", default="", help="A note to tell keys apart, e.g. 'rotation 2026-12'.")
def lenders_new_key(code: str, label: str) -> None:
    """Issue another API key for CODE, for rotation.

    The old keys keep working until they are revoked."""
    with _session() as session:
        lender = lenders.get_lender(session, code)
        key = lenders.issue_key(session, lender, _clock.now(), label=label)
        session.commit()
        _print_key(lender.code, key.secret)


@lenders_group.command("revoke-key")
@click.argument("code")
@click.argument("prefix")
def lenders_revoke_key(code: str, prefix: str) -> None:
    """Revoke one key of CODE, named by its PREFIX.

    'registry lenders list' shows the prefixes of each lender's active keys."""
    with _session() as session:
        lender = lenders.get_lender(session, code)
        revoked = lenders.revoke_key(session, lender, prefix, _clock.now())
        session.commit()
        click.echo(
            f"key {prefix} of {lender.code} " + ("revoked" if revoked else "was already revoked")
        )


@main.group("policy")
def policy_group() -> None:
    """The flag thresholds applied to every inquiry."""


@policy_group.command("list")
def policy_list() -> None:
    """Each flag, its threshold, and how the threshold is compared."""
    with _session() as session:
        rules = {rule.code: rule for rule in session.scalars(select(PolicyRule))}
        table = Table("flag", "threshold", "enabled", "raised when")
        for spec in policy.RULES:
            row = rules.get(spec.code)
            threshold = str(row.threshold if row else spec.default)
            enabled = "yes" if row is None or row.enabled else "no"
            table.add_row(spec.code, threshold, enabled, spec.meaning)
        console.print(table)


@policy_group.command("set")
@click.argument("code", type=click.Choice(policy.RULE_CODES, case_sensitive=False))
@click.argument("threshold", type=click.IntRange(1, 100_000))
@click.option("--disable", is_flag=True, help="Keep the threshold but raise the flag no more.")
def policy_set(code: str, threshold: int, disable: bool) -> None:
    """Set flag CODE's THRESHOLD (and enable it, unless --disable). Applies to the next inquiry."""
    with _session() as session:
        old, new = policy.set_threshold(
            session, code.upper(), threshold, _clock.now(), enabled=not disable
        )
        session.commit()
        state = "disabled" if disable else "enabled"
        click.echo(f"{code.upper()}: threshold {old} -> {new}, {state}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--debug/--no-debug", default=False)
def serve(host: str, port: int, debug: bool) -> None:
    """Development server. In production use: gunicorn 'registry:create_app()'."""
    from registry import create_app

    try:
        app = create_app()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    app.run(host=host, port=port, debug=debug, threaded=True)


@main.command()
@click.option(
    "--url",
    default="http://127.0.0.1:5000",
    show_default=True,
    help="Where the registry will be served, for the printed examples.",
)
def demo(url: str) -> None:
    """Load demo lenders, borrowers and inquiries (once) and print fresh demo API keys."""
    from registry.services.demo import seed_demo

    if _settings().production:
        raise click.ClickException("refusing to load demo data with REGISTRY_ENV=production")
    with _session() as session:
        result = seed_demo(session, _clock.now())
    console.print(
        "[green]demo data loaded[/green]"
        if result.created
        else "[yellow]demo data already present; issued fresh demo keys[/yellow]"
    )
    console.print("Demo lenders and their API keys (each run revokes the previous demo keys):")
    for code, name, secret in result.keys:
        click.echo(f"  {code:<10} {secret}   # {name}")
    key = result.keys[0][2]
    console.print("\nTry it (an over-indebted borrower):")
    click.echo(
        f"  curl -s -X POST {url}/v1/inquiries -H 'Authorization: Bearer {key}' "
        f"-H 'Content-Type: application/json' "
        f'-d \'{{"borrower": "{result.over_indebted_borrower}", "purpose": "new_credit", '
        f'"consent_ref": "demo-1"}}\''
    )
    click.echo(
        f"  REGISTRY_URL={url} REGISTRY_API_KEY={key} "
        f"lender-client inquire {result.over_indebted_borrower} --consent-ref demo-1"
    )
    # Plain echo: a token must not be wrapped across lines.
    click.echo(
        f"README walk-through applicant (owes two demo lenders): {result.walkthrough_borrower}"
    )
    sys.stdout.flush()
