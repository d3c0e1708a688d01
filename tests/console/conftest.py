"""Fixtures for the console tests: operators of each role, signed-in test clients, and a
cheap argon2 profile so that the suite stays fast (production uses the library defaults)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

from registry.db import make_session_factory
from registry.services import operators
from tests.console.helpers import PASSWORD, sign_in
from tests.helpers import NOW


@pytest.fixture(autouse=True)
def _cheap_argon2() -> Iterator[None]:
    previous = operators.use_password_hasher(
        PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )
    yield
    operators.use_password_hasher(previous)


@pytest.fixture
def make_operator(engine: Engine) -> Callable[..., str]:
    """`make_operator(username, role)`: an active operator with PASSWORD; returns the name."""

    def make(username: str, role: str = "admin", password: str = PASSWORD) -> str:
        session = make_session_factory(engine)()
        try:
            operators.create_operator(session, username, password, role, NOW)
            session.commit()
            return username
        finally:
            session.close()

    return make


@pytest.fixture
def console_as(app: Flask, make_operator: Callable[..., str]) -> Callable[[str], FlaskClient]:
    """`console_as(role)`: a new test client signed in as a fresh operator with that role."""
    made: dict[str, int] = {}

    def signed_in(role: str) -> FlaskClient:
        made[role] = made.get(role, 0) + 1
        username = make_operator(f"{role}{made[role]}", role)
        client = app.test_client()
        response = sign_in(client, username)
        assert response.status_code == 302, response.get_data(as_text=True)
        return client

    return signed_in
