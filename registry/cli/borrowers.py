"""`registry borrowers ...`: what the registry owes one borrower at the operator's desk: their
disclosure report, and their statement (个人声明)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from registry.cli.common import clock, session_scope
from registry.services import audit, statements
from registry.services.disclosure import disclose, to_json
from registry.services.errors import InvalidInput
from registry.services.lookup import parse_token


def _token(raw: str) -> bytes:
    try:
        return parse_token(raw)
    except InvalidInput:
        raise click.BadParameter("a borrower token: 64 hexadecimal characters") from None


@click.group("borrowers")
def borrowers_group() -> None:
    """A borrower's own report (disclosure) and statement, at the operator's desk."""


@borrowers_group.command("disclose")
@click.argument("token", metavar="TOKEN")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["json", "html"]),
    default="json",
    show_default=True,
    help="json for systems; html for a document to print or hand over (its style inline).",
)
@click.option(
    "--reference",
    default=None,
    metavar="TEXT",
    help="How the person proved who they are (e.g. 'ID card checked, ticket 42'); audited.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Write to this file (mode 0600) instead of standard output.",
)
def disclose_command(
    token: str, output_format: str, reference: str | None, output: Path | None
) -> None:
    """The disclosure report of borrower TOKEN: every account with its lender's name, the
    24-month strings, disputes and the statement, and every inquiry of the last 2 years
    (account_review included) with what came of each application. Audited as `disclosure`.

    Give it only to the person it is about, once they have proved who they are."""
    borrower = _token(token)
    with session_scope() as session:
        disclosure = disclose(session, borrower, clock.now(), audit.CLI, reference)
    if not (disclosure.tradelines or disclosure.inquiries or disclosure.disputes) and (
        disclosure.statement is None
    ):
        # Not an error (the answer is true), but a token mistyped or made with another ID kind
        # or pepper looks just like this: say so where the desk will see it.
        click.echo(
            "nothing on file for this token: no account, inquiry, dispute or statement "
            "(check the ID and its kind if the person expected records)",
            err=True,
        )
    if output_format == "html":
        from registry.console.disclosure_document import render_document

        text = render_document(disclosure)
    else:
        text = json.dumps(to_json(disclosure), indent=2, ensure_ascii=False) + "\n"
    if output is None:
        click.echo(text, nl=False)
        return
    output.touch(mode=0o600)
    output.write_text(text, encoding="utf-8")
    click.echo(f"disclosure of {borrower.hex()} written to {output}", err=True)


@borrowers_group.command("statement")
@click.argument("token", metavar="TOKEN")
@click.option("--set", "text", default=None, metavar="TEXT", help="Attach (or replace) it.")
@click.option("--remove", is_flag=True, help="Remove the borrower's statement.")
def statement_command(token: str, text: str | None, remove: bool) -> None:
    """Show, attach (--set TEXT, at most 200 characters) or remove (--remove) borrower TOKEN's
    statement, shown with every report until removed. Changes are audited."""
    borrower = _token(token)
    if text is not None and remove:
        raise click.UsageError("give --set TEXT or --remove, not both")
    with session_scope(write=text is not None or remove) as session:
        if text is not None:
            statements.set_statement(session, borrower, text, clock.now(), audit.CLI)
            click.echo("statement attached")
            return
        if remove:
            statements.remove_statement(session, borrower, clock.now(), audit.CLI)
            click.echo("statement removed")
            return
        current = statements.get_statement(session, borrower)
        click.echo(current.text if current is not None else "(no statement)")
