"""The `registry` command: database, lenders, policy, keys, tokens, operators, serve, demo.

Each group lives in its own module; this one assembles them.
"""

from __future__ import annotations

import sys

import click

from registry.cli.common import clock, console, session_scope, settings
from registry.cli.keys import keys_group
from registry.cli.lenders import lenders_group
from registry.cli.operators import operators_group
from registry.cli.policy import policy_group
from registry.cli.tokens import tokens_group
from registry.config import ConfigError


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

    url = settings().database_url
    upgrade(url, revision)
    click.echo(f"database at revision {current_revision(url)}")


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
    from registry.cli.keys import signer
    from registry.services.demo import seed_demo
    from registry.services.operators import ensure_demo_operator

    if settings().production:
        raise click.ClickException("refusing to load demo data with REGISTRY_ENV=production")
    with session_scope() as session:
        result = seed_demo(session, signer(), clock.now())
        operator, password = ensure_demo_operator(session, clock.now())
        session.commit()
    console.print(
        "[green]demo data loaded[/green]"
        if result.created
        else "[yellow]demo data already present; issued fresh demo keys[/yellow]"
    )
    console.print("Demo lenders and their API keys (each run revokes the previous demo keys):")
    for code, name, secret in result.keys:
        click.echo(f"  {code:<10} {secret}   # {name}")
    click.echo(f"Operator console: {url}/console/  user {operator}  password {password}")
    key = result.keys[0][2]
    console.print(
        "\nThe demo consortium's pepper (public, for the demo only; lenders tokenise IDs with it):"
    )
    click.echo(f"  export REGISTRY_PEPPER={result.pepper_hex}")
    console.print("Try it (an over-indebted applicant, by resident ID):")
    click.echo(
        f"  REGISTRY_URL={url} REGISTRY_API_KEY={key} REGISTRY_PEPPER={result.pepper_hex} "
        f"lender-client inquire --id-kind cn_resident_id --id {result.over_indebted_id} "
        "--consent-ref demo-1"
    )
    console.print("or with curl, by the applicant's token:")
    click.echo(
        f"  curl -s -X POST {url}/v1/inquiries -H 'Authorization: Bearer {key}' "
        f"-H 'Content-Type: application/json' "
        f'-d \'{{"borrower": "{result.over_indebted_borrower}", "purpose": "new_credit", '
        f'"consent_ref": "demo-1"}}\''
    )
    # Plain echo: a token must not be wrapped across lines.
    click.echo(
        f"README walk-through applicant (owes two demo lenders): ID {result.walkthrough_id}, "
        f"token {result.walkthrough_borrower}"
    )
    sys.stdout.flush()


main.add_command(lenders_group)
main.add_command(policy_group)
main.add_command(operators_group)
main.add_command(keys_group)
main.add_command(tokens_group)
