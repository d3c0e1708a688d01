"""The borrower's own statement (个人声明): up to 200 characters in their words, attached to
their token by an operator, shown with every report and disclosure until removed.

One statement per token (a new one replaces the old). Runs of white space, line breaks
included, become one space, so that the text reads the same on every page and in JSON.
Setting and removing are audited (`statement_set`, `statement_removed`) in the caller's unit
of work; this module flushes only.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.models import BorrowerStatement
from registry.services import audit
from registry.services.errors import FieldError, InvalidInput, NotFound

__all__ = ["MAX_STATEMENT", "check_statement", "get_statement", "remove_statement", "set_statement"]

MAX_STATEMENT = 200


def check_statement(raw: str) -> str:
    text = " ".join(raw.split())
    if not text:
        raise InvalidInput("no statement", [FieldError("statement", "write the statement")])
    if not text.isprintable():
        raise InvalidInput(
            "bad statement",
            [FieldError("statement", "must be printable text, without control characters")],
        )
    if len(text) > MAX_STATEMENT:
        raise InvalidInput(
            "statement too long",
            [FieldError("statement", f"at most {MAX_STATEMENT} characters, not {len(text)}")],
        )
    return text


def get_statement(session: Session, borrower: bytes) -> BorrowerStatement | None:
    return session.scalar(select(BorrowerStatement).where(BorrowerStatement.borrower == borrower))


def set_statement(
    session: Session,
    borrower: bytes,
    raw: str,
    now: datetime,
    actor: audit.Actor,
    operator_id: int | None = None,
) -> BorrowerStatement:
    """Attach (or replace) the borrower's statement."""
    text = check_statement(raw)
    statement = get_statement(session, borrower)
    previous = statement.text if statement is not None else None
    if statement is None:
        statement = BorrowerStatement(borrower=borrower, text=text, created_at=now)
        session.add(statement)
    statement.text, statement.created_at, statement.operator_id = text, now, operator_id
    audit.record(
        session,
        actor,
        "statement_set",
        now,
        borrower.hex(),
        {"text": text, "replaced": previous},
    )
    session.flush()
    return statement


def remove_statement(session: Session, borrower: bytes, now: datetime, actor: audit.Actor) -> str:
    """Remove the borrower's statement; returns its text. NotFound when there is none."""
    statement = get_statement(session, borrower)
    if statement is None:
        raise NotFound("this borrower has no statement")
    text = statement.text
    session.delete(statement)
    audit.record(session, actor, "statement_removed", now, borrower.hex(), {"text": text})
    session.flush()
    return text
