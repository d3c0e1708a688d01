"""Helpers for the console tests: sign in, post a form with its CSRF token, read the audit
log. The fixtures are in tests/console/conftest.py."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import Engine, select

from registry.db import make_session_factory
from registry.models import AuditEvent

PASSWORD = "correct horse battery staple"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(client: FlaskClient, path: str = "/console/login") -> str:
    page = client.get(path)
    match = CSRF.search(page.get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def sign_in(client: FlaskClient, username: str, password: str = PASSWORD, totp: str = "") -> Any:
    token = csrf_of(client)
    return client.post(
        "/console/login",
        data={"username": username, "password": password, "totp": totp, "csrf_token": token},
    )


def post(client: FlaskClient, path: str, data: dict[str, str] | None = None, **kw: Any) -> Any:
    """A console form POST with this client's CSRF token."""
    with client.session_transaction() as cookie:
        token = cookie.get("csrf", "")
    return client.post(path, data={**(data or {}), "csrf_token": token}, **kw)


def audit_actions(engine: Engine) -> list[tuple[str, str, str | None]]:
    session = make_session_factory(engine)()
    try:
        return [
            (e.actor, e.action, e.target)
            for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))
        ]
    finally:
        session.close()


def audit_events(engine: Engine, action: str) -> list[AuditEvent]:
    session = make_session_factory(engine)()
    try:
        return list(
            session.scalars(
                select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
            )
        )
    finally:
        session.close()
