"""What every `registry` command shares: settings, a database session, the console."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click
from rich.console import Console
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from registry.clock import SystemClock
from registry.config import ConfigError, Settings
from registry.db import database_trouble, make_engine, make_session_factory, transaction
from registry.services.errors import InvalidInput, ServiceError

console = Console()
clock = SystemClock()


def settings() -> Settings:
    try:
        return Settings.from_env().validated()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


@contextmanager
def session_scope(*, write: bool = True) -> Iterator[Session]:
    """A command's unit of work on the configured database (`registry.db.transaction`):
    committed when the command's block ends, rolled back if it fails; a service error becomes
    a clean CLI error."""
    engine = make_engine(settings().database_url)
    session = make_session_factory(engine)()
    try:
        with transaction(session, write=write):
            yield session
    except ServiceError as exc:
        message = str(exc)
        if isinstance(exc, InvalidInput) and exc.errors:
            message += ": " + "; ".join(f"{e.field} {e.message}" for e in exc.errors)
        raise click.ClickException(message) from None
    except SQLAlchemyError as exc:
        trouble = database_trouble(exc)  # down, full, read-only: said plainly, no traceback
        if trouble is None:
            raise
        raise click.ClickException(f"database: {trouble.detail}") from None
    finally:
        session.close()
        engine.dispose()
