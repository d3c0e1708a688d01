"""What the app holds for its requests: settings, database, clock. Accessors for routes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import current_app, g
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from registry.clock import Clock
from registry.config import Settings
from registry.signer import Signer
from registry.totals_cache import TotalsCache


@dataclass
class RegistryState:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    clock: Clock
    signer: Signer
    dashboard_totals: TotalsCache


def state() -> RegistryState:
    registry_state: RegistryState = current_app.extensions["registry"]
    return registry_state


def db() -> Session:
    """The request's session, opened on first use and closed when the request ends."""
    if "db_session" not in g:
        g.db_session = state().sessions()
    session: Session = g.db_session
    return session


def signer() -> Signer:
    return state().signer


def now() -> datetime:
    return state().clock.now()


def close_session(_exc: BaseException | None = None) -> None:
    session: Session | None = g.pop("db_session", None)
    if session is not None:
        session.close()  # rolls back whatever a failed request left open
