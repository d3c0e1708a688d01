"""`registry operators ...`: the people who run the console, and their roles."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from registry.cli.common import clock, console, session_scope
from registry.models import OperatorStatus
from registry.services import audit, operators


@click.group("operators")
def operators_group() -> None:
    """Console operators: admin, analyst or auditor."""


def _password(password_file: Path | None) -> str:
    """From the file's first line (for automation), or prompted twice without echo."""
    if password_file is not None:
        lines = password_file.read_text(encoding="utf-8").splitlines()
        if not lines or not lines[0]:
            raise click.ClickException(f"{password_file} holds no password on its first line")
        return lines[0]
    password: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


_PASSWORD_FILE = click.option(
    "--password-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Read the password from this file's first line instead of prompting.",
)


@operators_group.command("add")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice(operators.ROLES))
@_PASSWORD_FILE
def operators_add(username: str, role: str, password_file: Path | None) -> None:
    """Create operator USERNAME with ROLE (password prompted, at least 12 characters)."""
    password = _password(password_file)
    with session_scope() as session:
        operator = operators.create_operator(
            session, username, password, role, clock.now(), actor=audit.CLI
        )
        click.echo(f"operator {operator.username} ({operator.role}) created")


@operators_group.command("list")
def operators_list() -> None:
    """Operators with their role, status, second factor and last sign-in."""
    with session_scope(write=False) as session:
        table = Table("username", "role", "status", "two-factor", "last sign-in")
        for row in operators.list_operators(session):
            table.add_row(
                row.username,
                row.role,
                row.status,
                "on" if row.totp_enabled else "off",
                row.last_login_at.isoformat() if row.last_login_at else "-",
            )
        console.print(table)


def _set_status(username: str, status: OperatorStatus, done: str) -> None:
    with session_scope() as session:
        operator = operators.get_operator(session, username)
        operators.set_operator_status(session, operator, status, clock.now(), actor=audit.CLI)
        click.echo(f"operator {operator.username} {done}")


@operators_group.command("disable")
@click.argument("username")
def operators_disable(username: str) -> None:
    """Disable USERNAME: their sessions end and they can no longer sign in."""
    _set_status(username, OperatorStatus.DISABLED, "disabled")


@operators_group.command("enable")
@click.argument("username")
def operators_enable(username: str) -> None:
    """Enable a disabled operator again."""
    _set_status(username, OperatorStatus.ACTIVE, "enabled")


@operators_group.command("set-role")
@click.argument("username")
@click.argument("role", type=click.Choice(operators.ROLES))
def operators_set_role(username: str, role: str) -> None:
    """Give USERNAME another ROLE (admin, analyst or auditor); audited with the old one."""
    with session_scope() as session:
        operator = operators.get_operator(session, username)
        operators.set_role(session, operator, role, clock.now(), actor=audit.CLI)
        click.echo(f"operator {operator.username} is now {role}")


@operators_group.command("reset-password")
@click.argument("username")
@_PASSWORD_FILE
def operators_reset_password(username: str, password_file: Path | None) -> None:
    """Set a new password for USERNAME (ends their sessions and lifts a login lock)."""
    password = _password(password_file)
    with session_scope() as session:
        operator = operators.get_operator(session, username)
        operators.reset_password(session, operator, password, clock.now(), actor=audit.CLI)
        click.echo(f"password of {operator.username} reset")
