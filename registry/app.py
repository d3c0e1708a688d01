"""The application factory: `create_app()` wires each concern with its own `init_app`."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask, Response, current_app, request
from sqlalchemy.exc import SQLAlchemyError

from registry import hot_cache, http_security, metrics, problems
from registry import logging as registry_logging
from registry.api import init_app as init_api
from registry.clock import Clock, SystemClock
from registry.config import Settings
from registry.console import init_app as init_console
from registry.db import (
    UNAVAILABLE_RETRY_AFTER,
    database_trouble,
    make_engine,
    make_session_factory,
)
from registry.extensions import RegistryState, close_session
from registry.landing import init_app as init_landing
from registry.signer import Signer
from registry.totals_cache import TotalsCache


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the registry app. `config` overrides environment settings (tests pass
    `database_url`, and may pass `clock` for a controllable time)."""
    settings = Settings.from_env().override(config or {}).validated()

    app = Flask("registry")
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        JSON_SORT_KEYS=False,
        # No implicit OPTIONS answers: an unsupported method is a 405 problem like any other.
        PROVIDE_AUTOMATIC_OPTIONS=False,
        # The console's cookie: only its session token, CSRF token and flash messages.
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.production,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=8),
    )
    clock: Clock = settings.extra.get("clock") or SystemClock()
    engine = make_engine(
        settings.database_url,
        connect_timeout=settings.db_connect_timeout,
        statement_timeout=settings.db_statement_timeout,
        pool_timeout=settings.db_pool_timeout,
    )
    # Tests may pass `bind`, a connection whose transaction they roll back afterwards.
    sessions = make_session_factory(settings.extra.get("bind") or engine)
    app.extensions["registry"] = RegistryState(
        settings=settings,
        engine=engine,
        sessions=sessions,
        clock=clock,
        signer=Signer(Path(settings.oprf_key_dir), settings.oprf_keys),
        dashboard_totals=TotalsCache(
            sessions, clock.now, timedelta(seconds=settings.dashboard_cache_seconds)
        ),
    )
    hot_cache.init_app(app, settings.cache_seconds)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.teardown_appcontext(close_session)

    registry_logging.init_app(app, settings.log_level, settings.production)
    http_security.init_app(app, settings)
    metrics.init_app(app)
    problems.init_app(app)
    app.register_error_handler(SQLAlchemyError, _database_error)
    init_api(app)
    init_console(app)
    init_landing(app)
    return app


def _database_error(exc: SQLAlchemyError) -> Response:
    """A database that is down, full, read-only or overloaded is the registry's trouble, not a
    bug: a 503 problem with ``Retry-After`` (507 for a full disk) that says what is wrong.
    Any other database error is an internal error like any other exception."""
    _drain_request_body()
    trouble = database_trouble(exc)
    if trouble is None:
        current_app.logger.exception("unhandled database error")
        return problems.Problem(
            500, "an internal error occurred; quote the request_id to the operator"
        ).to_response()
    # One line, without a stack: an outage makes many of these, and the cause is the database.
    reason = str(getattr(exc, "orig", None) or type(exc).__name__).strip().splitlines()
    current_app.logger.warning(
        "database trouble (%d): %s", trouble.status, reason[0][:200] if reason else "?"
    )
    headers = {"Retry-After": str(UNAVAILABLE_RETRY_AFTER)} if trouble.status == 503 else {}
    return problems.Problem(
        trouble.status, trouble.detail, trouble.slug, headers=headers
    ).to_response()


def _drain_request_body() -> None:
    """Read what the request's body still holds. The error came before the route read it
    (authentication needs the database first); gunicorn's threaded worker would otherwise
    read it only once the client sends again, holding a worker thread for as long as a
    retrying client waits: during an outage every thread would soon be held."""
    stream = request.stream
    with contextlib.suppress(Exception):  # a client gone already: nothing to drain
        while stream.read(64 * 1024):
            pass
