"""Least privilege in PostgreSQL: the application connects as a role that may read and write
rows but owns nothing, may change no schema, and may only add to the audit log.

Migrations run as the owner (the role in the URL of `registry db upgrade`); the application
runs as the role made here. It may:

- SELECT, INSERT, UPDATE and DELETE rows of every table, but
- only SELECT and INSERT on `audit_events` (no UPDATE, DELETE or TRUNCATE), and only SELECT
  on `alembic_version`;
- use the sequences; and nothing else: no CREATE in the schema, no TRUNCATE anywhere, and, not
  owning the tables, no ALTER, DROP or DROP TRIGGER.

Grants are per table, so they are made again after every migration that adds a table
(`registry db upgrade --app-role NAME` does both).
"""

from __future__ import annotations

import re

from sqlalchemy import Connection, text

ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
APPEND_ONLY_TABLES = frozenset({"audit_events"})
READ_ONLY_TABLES = frozenset({"alembic_version"})
ROW_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"


class RoleError(ValueError):
    """The role cannot be made as asked (a bad name, or not PostgreSQL)."""


def _sql(connection: Connection, template: str, *values: str) -> str:
    """A statement with identifiers (%I) and literals (%L) quoted by PostgreSQL's format()."""
    # format() is variadic over "any": each value needs its type spelled out.
    placeholders = ", ".join(f"CAST(:v{i} AS text)" for i in range(len(values)))
    statement = (
        f"SELECT format(CAST(:template AS text), {placeholders})"
        if values
        else "SELECT CAST(:template AS text)"
    )
    parameters = {"template": template, **{f"v{i}": v for i, v in enumerate(values)}}
    return str(connection.execute(text(statement), parameters).scalar_one())


def grant_app_role(connection: Connection, role: str, password: str | None) -> list[str]:
    """Create or update the application's role on the connection's database and grant it
    exactly the privileges above. Returns the tables granted. Run it as the owner."""
    if connection.dialect.name != "postgresql":
        raise RoleError("database roles are a PostgreSQL matter (SQLite has none)")
    if not ROLE_NAME.fullmatch(role):
        raise RoleError("a role name is 1-63 lower-case letters, digits and _, not a digit first")
    exists = connection.execute(
        text("SELECT 1 FROM pg_roles WHERE rolname = :role"), {"role": role}
    ).first()
    verb = "ALTER" if exists else "CREATE"
    connection.exec_driver_sql(
        _sql(connection, f"{verb} ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE", role)
    )
    if password:
        connection.exec_driver_sql(_sql(connection, "ALTER ROLE %I PASSWORD %L", role, password))
    database = str(connection.execute(text("SELECT current_database()")).scalar_one())
    steps: list[tuple[str, tuple[str, ...]]] = [
        ("GRANT CONNECT ON DATABASE %I TO %I", (database, role)),
        ("REVOKE CREATE ON SCHEMA public FROM PUBLIC", ()),
        ("REVOKE ALL ON SCHEMA public FROM %I", (role,)),
        ("GRANT USAGE ON SCHEMA public TO %I", (role,)),
        ("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM %I", (role,)),
        ("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO %I", (role,)),
    ]
    for template, values in steps:
        connection.exec_driver_sql(_sql(connection, template, *values))
    tables = [
        str(name)
        for name in connection.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
        ).scalars()
    ]
    for table in tables:
        if table in APPEND_ONLY_TABLES:
            privileges = "SELECT, INSERT"
        elif table in READ_ONLY_TABLES:
            privileges = "SELECT"
        else:
            privileges = ROW_PRIVILEGES
        connection.exec_driver_sql(
            _sql(connection, f"GRANT {privileges} ON TABLE %I TO %I", table, role)
        )
    return tables
