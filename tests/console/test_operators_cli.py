"""`registry operators ...`: add (prompted or from a file), list, disable, reset-password."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from registry.cli import main
from registry.db import transaction
from registry.services import operators
from tests.console.helpers import audit_events, sign_in

# Each command opens its own engine on the database: its commits must be real.
pytestmark = pytest.mark.committed


def run(database_url, *args, input=None):
    runner = CliRunner()
    return runner.invoke(main, list(args), input=input, env={"REGISTRY_DATABASE_URL": database_url})


def add_analyst(database_url, tmp_path, username, password):
    """`registry operators add USERNAME --role analyst --password-file ...`; the file."""
    secret = tmp_path / "pw"
    secret.write_text(password + "\n")
    result = run(
        database_url,
        "operators",
        "add",
        username,
        "--role",
        "analyst",
        "--password-file",
        str(secret),
    )
    assert result.exit_code == 0, result.output
    return secret


def test_add_with_prompt_then_sign_in(database_url, app, engine):
    result = run(
        database_url,
        "operators",
        "add",
        "Alice",
        "--role",
        "admin",
        input="a long password!\na long password!\n",
    )
    assert result.exit_code == 0, result.output
    assert "operator alice (admin) created" in result.output
    assert "a long password!" not in result.output
    assert sign_in(app.test_client(), "alice", "a long password!").status_code == 302
    (event,) = audit_events(engine, "operator_created")
    assert event.actor == "cli" and event.details == {"role": "admin"}


def test_add_from_a_password_file_and_list(database_url, tmp_path, engine):
    secret = tmp_path / "pw"
    secret.write_text("from a file, long\n")
    result = run(
        database_url, "operators", "add", "bob", "--role", "auditor", "--password-file", str(secret)
    )
    assert result.exit_code == 0, result.output
    listing = run(database_url, "operators", "list")
    assert "bob" in listing.output and "auditor" in listing.output


def test_bad_role_short_password_and_duplicates_are_refused(database_url, tmp_path):
    secret = tmp_path / "pw"
    secret.write_text("short\n")
    bad_role = run(
        database_url, "operators", "add", "x1", "--role", "root", "--password-file", str(secret)
    )
    assert bad_role.exit_code != 0
    short = run(
        database_url, "operators", "add", "x1", "--role", "admin", "--password-file", str(secret)
    )
    assert short.exit_code != 0 and "12 characters" in short.output
    secret.write_text("long enough password\n")
    assert (
        run(
            database_url,
            "operators",
            "add",
            "x1",
            "--role",
            "admin",
            "--password-file",
            str(secret),
        ).exit_code
        == 0
    )
    again = run(
        database_url, "operators", "add", "x1", "--role", "admin", "--password-file", str(secret)
    )
    assert again.exit_code != 0 and "already exists" in again.output


def test_disable_and_reset_password(database_url, tmp_path, app, engine):
    secret = add_analyst(database_url, tmp_path, "carol", "first password!!")
    client = app.test_client()
    assert sign_in(client, "carol", "first password!!").status_code == 302
    assert run(database_url, "operators", "disable", "carol").exit_code == 0
    assert client.get("/console/").status_code == 302
    assert sign_in(app.test_client(), "carol", "first password!!").status_code == 401
    assert run(database_url, "operators", "enable", "carol").exit_code == 0
    secret.write_text("second password!\n")
    result = run(
        database_url, "operators", "reset-password", "carol", "--password-file", str(secret)
    )
    assert result.exit_code == 0, result.output
    assert sign_in(app.test_client(), "carol", "first password!!").status_code == 401
    assert sign_in(app.test_client(), "carol", "second password!").status_code == 302
    assert [e.actor for e in audit_events(engine, "password_reset")] == ["cli"]
    assert run(database_url, "operators", "disable", "nobody").exit_code != 0


def test_ensure_demo_operator_gives_a_fresh_password_each_time(db_session, app, clock):
    with transaction(db_session):
        username, first = operators.ensure_demo_operator(db_session, clock.now())
    with transaction(db_session):
        again, second = operators.ensure_demo_operator(db_session, clock.now())
    assert username == again == "demo-admin" and first != second
    assert sign_in(app.test_client(), username, first).status_code == 401
    assert sign_in(app.test_client(), username, second).status_code == 302


def test_set_role_changes_what_the_operator_may_open(database_url, tmp_path, app, engine):
    add_analyst(database_url, tmp_path, "carol", "a long password!")
    client = app.test_client()
    sign_in(client, "carol", "a long password!")
    assert client.get("/console/audit").status_code == 403
    result = run(database_url, "operators", "set-role", "carol", "auditor")
    assert result.exit_code == 0 and "carol is now auditor" in result.output
    assert client.get("/console/audit").status_code == 200  # the role is read per request
    (event,) = audit_events(engine, "operator_role_changed")
    assert event.details == {"old": "analyst", "new": "auditor"} and event.actor == "cli"
    assert run(database_url, "operators", "set-role", "carol", "root").exit_code == 2
