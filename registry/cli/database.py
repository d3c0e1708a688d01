"""`registry db ...`: the schema (Alembic migrations), the application's database role, and the
Citus distribution of the tables."""

from __future__ import annotations

import os
from pathlib import Path

import click
from sqlalchemy import Connection

from registry.cli.common import settings
from registry.db import make_engine

APP_PASSWORD_ENV = "REGISTRY_APP_DB_PASSWORD"  # noqa: S105 - a variable's name, not a secret


@click.group("db")
def db_group() -> None:
    """Database schema (Alembic migrations) and the application's role.

    \b
    Least privilege on PostgreSQL: run migrations as the owner of the schema, and the
    registry itself as a role that owns nothing and may only add to the audit log:
      REGISTRY_DATABASE_URL=postgresql://registry_owner@db/registry \\
        registry db upgrade --app-role registry_app
    then start the registry with REGISTRY_DATABASE_URL=postgresql://registry_app@db/registry.
    """


def _password(password_file: Path | None) -> str | None:
    if password_file is not None:
        return password_file.read_text(encoding="utf-8").rstrip("\r\n") or None
    return os.environ.get(APP_PASSWORD_ENV) or None


def _grant(url: str, role: str, password_file: Path | None) -> None:
    from registry.db_roles import RoleError, grant_app_role

    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            tables = grant_app_role(connection, role, _password(password_file))
    except RoleError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        engine.dispose()
    click.echo(
        f"role {role}: rows of {len(tables)} tables, the audit log append-only, no schema changes"
    )


_app_role_option = click.option(
    "--app-role",
    metavar="NAME",
    help="Also create or update the application's PostgreSQL role NAME and grant it exactly "
    "what the registry needs (see `registry db app-role --help`).",
)
_password_option = click.option(
    "--app-password-file",
    "password_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help=f"The role's password, from a file (else ${APP_PASSWORD_ENV}; none: trust or peer "
    "authentication).",
)


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@_app_role_option
@_password_option
def db_upgrade(revision: str, app_role: str | None, password_file: Path | None) -> None:
    """Create or upgrade the schema. Safe to run on every start (at the newest revision it
    changes nothing, so the application's own role may run it too)."""
    from registry.migrations import current_revision, upgrade

    url = settings().database_url
    upgrade(url, revision)
    click.echo(f"database at revision {current_revision(url)}")
    if app_role:
        _grant(url, app_role, password_file)


@db_group.command("app-role")
@click.argument("name")
@_password_option
def db_app_role(name: str, password_file: Path | None) -> None:
    """Create or update the application's role NAME (PostgreSQL; run as the schema's owner).

    NAME may read and write rows but owns nothing: no CREATE, ALTER, DROP or TRUNCATE, and
    only SELECT and INSERT on audit_events, so that even a compromised registry process
    cannot rewrite or empty the audit log. Run it again after each upgrade (or use
    `registry db upgrade --app-role NAME`): new tables need their grants.
    """
    _grant(settings().database_url, name, password_file)


@db_group.command("distribute")
@click.option(
    "--apply",
    is_flag=True,
    help="Run the statements (on a Citus coordinator only: the citus extension must be "
    "installed in the database); without it, print them.",
)
def db_distribute(apply: bool) -> None:
    """Distribute the schema over Citus workers: each per-borrower table by its token
    (co-located with loans), the phone index by phone, the lender-keyed tables by lender,
    small shared tables as reference tables; the operators' tables stay on the coordinator.

    \b
    Without --apply it prints the SQL, to review or to run with psql:
      registry db distribute > distribute.sql
    Run it once, on the coordinator, after `registry db upgrade` and before loading data
    (docs/scaling.md).
    """
    from registry.partitioning import TABLES, distribution_statements

    statements = distribution_statements()
    if not apply:
        click.echo("-- Citus: distribute the registry's tables (registry db distribute)")
        for place in TABLES:
            column = f" ({place.column})" if place.column else ""
            click.echo(f"-- {place.table}: {place.placement.value}{column}")
        for statement in statements:
            click.echo(statement)
        return
    url = settings().database_url
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            if connection.dialect.name != "postgresql" or not _has_citus(connection):
                raise click.ClickException(
                    "--apply needs a Citus coordinator: this database has no citus extension "
                    "(CREATE EXTENSION citus; see docs/scaling.md)"
                )
            for statement in statements:
                connection.exec_driver_sql(statement)
                click.echo(f"done: {statement}")
    finally:
        engine.dispose()
    click.echo(f"{len(statements)} tables distributed")


def _has_citus(connection: Connection) -> bool:
    found = connection.exec_driver_sql(
        "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')"
    ).scalar()
    return bool(found)
