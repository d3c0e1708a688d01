"""The application factory: `create_app()` wires each concern with its own `init_app`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask

from registry import http_security, metrics, problems
from registry import logging as registry_logging
from registry.api import init_app as init_api
from registry.clock import Clock, SystemClock
from registry.config import Settings
from registry.console import init_app as init_console
from registry.db import make_engine, make_session_factory
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
    engine = make_engine(settings.database_url)
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
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.teardown_appcontext(close_session)

    registry_logging.init_app(app, settings.log_level, settings.production)
    http_security.init_app(app, settings)
    metrics.init_app(app)
    problems.init_app(app)
    init_api(app)
    init_console(app)
    init_landing(app)
    return app
