"""Least privilege in PostgreSQL (issue 12): the application's role reads and writes rows but
cannot rewrite, empty or drop the audit log, change the schema, or drop the triggers; and
the audit log refuses TRUNCATE even to its owner."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from registry.cli import main
from registry.db import make_engine
from registry.db_roles import RoleError, grant_app_role

# Roles and grants are real, and so is every refusal; roles are PostgreSQL's (SQLite has none).
pytestmark = [pytest.mark.committed, pytest.mark.postgres]

PASSWORD = "app-role-test-password"
NOW = datetime(2026, 11, 28, tzinfo=UTC)


@pytest.fixture
def postgres_url(database_url: str) -> str:
    assert database_url.startswith("postgresql")
    return database_url


@pytest.fixture
def app_role(postgres_url: str) -> Iterator[str]:
    """A fresh role, granted as `registry db app-role` does, dropped afterwards (roles are
    the cluster's, not the database's)."""
    role = f"registry_app_{uuid.uuid4().hex[:8]}"
    engine = make_engine(postgres_url)
    try:
        with engine.begin() as connection:
            grant_app_role(connection, role, PASSWORD)
        yield role
    finally:
        drop_role(engine, role)
        engine.dispose()


def drop_role(engine: Engine, role: str) -> None:
    with engine.begin() as connection:
        if connection.exec_driver_sql(f"SELECT 1 FROM pg_roles WHERE rolname = '{role}'").first():
            connection.exec_driver_sql(f'DROP OWNED BY "{role}"')
            connection.exec_driver_sql(f'DROP ROLE "{role}"')


def connect_as(postgres_url: str, role: str) -> psycopg.Connection:
    host_and_db = postgres_url.split("@", 1)[1]
    return psycopg.connect(f"postgresql://{role}:{PASSWORD}@{host_and_db}", autocommit=True)


def seed_audit_event(connection: psycopg.Connection) -> None:
    connection.execute(
        "INSERT INTO audit_events (occurred_at, actor, action, target, details) "
        "VALUES (%s, 'test', 'probe', 'x', '{}')",
        (NOW,),
    )


def test_the_app_role_reads_and_writes_rows_and_adds_to_the_audit_log(postgres_url, app_role):
    with connect_as(postgres_url, app_role) as connection:
        seed_audit_event(connection)
        count = connection.execute("SELECT count(*) FROM audit_events").fetchone()
        assert count is not None and count[0] >= 1
        connection.execute(
            "INSERT INTO lenders (code, name, status, created_at, updated_at) "
            "VALUES ('rolecheck', 'Role Check', 'active', %s, %s)",
            (NOW, NOW),
        )
        connection.execute("UPDATE lenders SET name = 'Renamed' WHERE code = 'rolecheck'")
        connection.execute("DELETE FROM lenders WHERE code = 'rolecheck'")


@pytest.mark.parametrize(
    "statement",
    [
        "TRUNCATE audit_events",
        "DELETE FROM audit_events",
        "UPDATE audit_events SET action = 'forged'",
        "DROP TRIGGER audit_events_append_only ON audit_events",
        "DROP TRIGGER audit_events_no_truncate ON audit_events",
        "ALTER TABLE audit_events DISABLE TRIGGER ALL",
        "DROP TABLE audit_events",
        "CREATE TABLE sneaky (id int)",
        "TRUNCATE loans",
        "ALTER TABLE loans ADD COLUMN sneaky int",
        "UPDATE alembic_version SET version_num = '0001'",
    ],
)
def test_the_app_role_cannot(postgres_url, app_role, statement):
    with connect_as(postgres_url, app_role) as connection:
        seed_audit_event(connection)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            connection.execute(statement)


def test_the_audit_log_refuses_truncate_even_to_its_owner(postgres_url):
    with psycopg.connect(postgres_url.replace("+psycopg", ""), autocommit=True) as connection:
        seed_audit_event(connection)
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            connection.execute("TRUNCATE audit_events")


def test_db_upgrade_can_create_the_app_role(postgres_url, monkeypatch, tmp_path):
    role = f"registry_app_{uuid.uuid4().hex[:8]}"
    password_file = tmp_path / "password"
    password_file.write_text(PASSWORD + "\n")
    monkeypatch.setenv("REGISTRY_DATABASE_URL", postgres_url)
    try:
        result = CliRunner().invoke(
            main, ["db", "upgrade", "--app-role", role, "--app-password-file", str(password_file)]
        )
        assert result.exit_code == 0, result.output
        assert f"role {role}:" in result.output and "append-only" in result.output
        with (
            connect_as(postgres_url, role) as connection,
            pytest.raises(psycopg.errors.InsufficientPrivilege),
        ):
            connection.execute("TRUNCATE audit_events")
    finally:
        engine = make_engine(postgres_url)
        drop_role(engine, role)
        engine.dispose()


def test_role_names_are_checked(postgres_url):
    engine = make_engine(postgres_url)
    try:
        with engine.begin() as connection, pytest.raises(RoleError, match="role name"):
            grant_app_role(connection, 'app"; DROP TABLE loans; --', None)
    finally:
        engine.dispose()


def test_sqlite_has_no_roles(tmp_path, monkeypatch):
    monkeypatch.setenv("REGISTRY_DATABASE_URL", f"sqlite:///{tmp_path}/r.db")
    result = CliRunner().invoke(main, ["db", "app-role", "registry_app"])
    assert result.exit_code == 1 and "PostgreSQL" in result.output
