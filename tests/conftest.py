"""Fixtures: a fresh database per backend (built by the migrations), an app per test with a
frozen clock, lenders made through the service, and a live server on a loopback port.

Every test that uses the database runs on SQLite and on PostgreSQL. PostgreSQL at
127.0.0.1:5432 must be up (`make test` starts it when it is down); when it is not, the
PostgreSQL tests fail, they do not skip. REGISTRY_TEST_BACKENDS=sqlite limits a local run.

Isolation: a database test runs inside one connection's transaction, which is rolled back
when it ends; the app's sessions and the fixtures' join it through savepoints, so a unit of
work's commit ends a savepoint only. A test that needs real commits (a second connection, a
live server, a CLI command that opens its own engine, concurrent threads) is marked
`committed` (or uses `live_server`): it works on the database itself, which is emptied after it.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Connection, Engine, text
from werkzeug.serving import make_server

from registry import create_app
from registry.clock import FrozenClock, SystemClock
from registry.db import WRITE_OPTION, make_engine, make_session_factory, transaction
from registry.migrations import upgrade
from registry.models import Base, LenderStatus, TokenKey
from registry.partitioning import partition_schema
from registry.services import audit, lenders
from registry.services.policy import ENTRIES
from registry.services.tokens import init_key
from tests.helpers import NOW

PG_ADMIN_URL = os.environ.get(
    "REGISTRY_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = [
    b for b in os.environ.get("REGISTRY_TEST_BACKENDS", "sqlite,postgresql").split(",") if b
]
# REGISTRY_TEST_PARTITIONED=1: PostgreSQL's per-borrower tables hash-partitioned by token.
PARTITIONED = os.environ.get("REGISTRY_TEST_PARTITIONED", "") not in ("", "0")
# Every table but the policy, children first (plain DELETE on SQLite must respect keys).
TABLES = [t.name for t in reversed(Base.metadata.sorted_tables) if t.name != "policy_rules"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test marked `postgres` is about PostgreSQL alone (roles, triggers): its SQLite
    variant is deselected, not skipped."""
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        sqlite = callspec is not None and callspec.params.get("database_url") == "sqlite"
        (drop if sqlite and item.get_closest_marker("postgres") else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def _create_pg_database() -> tuple[str, str]:
    name = f"registry_test_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {PG_ADMIN_URL} ({exc}). Start it with "
            "'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start' "
            "(make test does), or run only SQLite: REGISTRY_TEST_BACKENDS=sqlite",
            pytrace=False,
        )
    return name, PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def _drop_pg_database(name: str) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A new database for this test session, with the schema built by the migrations."""
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("sqlite") / "registry.db"
        url = f"sqlite:///{path}"
        upgrade(url)
        yield url
        return
    name, url = _create_pg_database()
    try:
        upgrade(url)
        if PARTITIONED:  # the Citus key rules, on one machine (registry/partitioning.py)
            partition_schema(url)
        yield url
    finally:
        _drop_pg_database(name)


@pytest.fixture(scope="session")
def database_engine(database_url: str) -> Iterator[Engine]:
    """The engine on the session's database: commits for real."""
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def commits(request: pytest.FixtureRequest) -> bool:
    """Whether the test needs real commits (see the module's docstring)."""
    return (
        request.node.get_closest_marker("committed") is not None
        or "live_server" in request.fixturenames
    )


@pytest.fixture
def bind(request: pytest.FixtureRequest, database_engine: Engine) -> Iterator[Engine | Connection]:
    """What the test's sessions are bound to: a connection whose transaction is rolled back
    after the test, or, for a `committed` test, the engine (the database emptied after it)."""
    if commits(request):
        try:
            yield database_engine
        finally:
            _empty_database(database_engine)
        return
    # SQLite: the outer transaction takes the write lock at once (BEGIN IMMEDIATE), so that
    # a stray second connection fails loudly instead of seeing half a test.
    connection = database_engine.connect().execution_options(**{WRITE_OPTION: True})
    outer = connection.begin()
    try:
        yield connection
    finally:
        outer.rollback()
        connection.close()


@pytest.fixture
def engine(bind: Engine | Connection) -> Engine | Connection:
    """What tests make their own sessions on (`make_session_factory(engine)`): the test's
    connection, or the engine for a `committed` test."""
    return bind


@pytest.fixture(autouse=True)
def _isolated_database(request: pytest.FixtureRequest) -> None:
    """Every database test gets `bind`, whether or not it asks for it."""
    if "database_url" in request.fixturenames:
        request.getfixturevalue("bind")


def _empty_database(engine: Engine) -> None:
    """Empty every table; the policy (flags and settings) goes back to its defaults."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # The audit log refuses TRUNCATE (migration 0012): a superuser's replica mode
            # skips its trigger, for this clean-up's transaction only.
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
        else:
            # The audit log refuses DELETE (migration 0007): lift that for the clean-up only.
            conn.execute(text("DROP TRIGGER IF EXISTS audit_events_no_delete"))
            for table in TABLES:
                conn.execute(text(f"DELETE FROM {table}"))
            conn.execute(
                text(
                    "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events "
                    "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
                )
            )
        for rule in ENTRIES:  # the flags and the settings
            conn.execute(
                text("UPDATE policy_rules SET threshold = :t, enabled = :e WHERE code = :c"),
                {"t": rule.default, "e": True, "c": rule.code},
            )


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
def app(
    database_url: str, bind: Engine | Connection, clock: FrozenClock, tmp_path: Path
) -> Iterator[Flask]:
    app = create_app(
        {
            "database_url": database_url,
            "bind": bind,
            "clock": clock,
            "oprf_key_dir": str(tmp_path / "keys"),
            # Live dashboard figures: tests change data and look again at once.
            "dashboard_cache_seconds": 0,
        }
    )
    app.config["TESTING"] = True
    yield app
    app.extensions["registry"].engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def create_token_key(app: Flask) -> TokenKey:
    """The registry's first OPRF key, as `registry keys init` makes it, in the app's key dir."""
    registry_state = app.extensions["registry"]
    with registry_state.sessions() as session, transaction(session):
        key = init_key(session, registry_state.signer, registry_state.clock.now(), audit.CLI)
        session.expunge(key)
        return key


@pytest.fixture
def token_key(app: Flask) -> TokenKey:
    return create_token_key(app)


@dataclass(frozen=True)
class LenderCredentials:
    id: int
    code: str
    name: str
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


@pytest.fixture
def db_session(bind: Engine | Connection) -> Iterator[Any]:
    session = make_session_factory(bind)()
    yield session
    session.close()


# A test lender's onboarding exemption from give to get (`services/reciprocity`): long enough
# for the live server's real clock too. Tests of give to get make lenders with exempt=False.
EXEMPT_UNTIL = datetime(2100, 1, 1, tzinfo=UTC)


@pytest.fixture
def new_lender(bind: Engine | Connection) -> Callable[..., LenderCredentials]:
    """`new_lender(code=None)`: an active lender with one API key, exempt from give to get
    (as `registry lenders add` onboards one) unless `exempt=False`."""
    counter = iter(range(1, 10_000))

    def make(
        code: str | None = None, name: str | None = None, *, exempt: bool = True
    ) -> LenderCredentials:
        code = code or f"lender{next(counter)}"
        session = make_session_factory(bind)()
        try:
            lender, key = lenders.create_lender(session, code, name or code.title(), NOW)
            if exempt:
                lender.reciprocity_exempt_until = EXEMPT_UNTIL
            session.commit()
            return LenderCredentials(lender.id, lender.code, lender.name, key.secret)
        finally:
            session.close()

    return make


@pytest.fixture
def suspend_lender(bind: Engine | Connection) -> Callable[[str], None]:
    def suspend(code: str) -> None:
        session = make_session_factory(bind)()
        try:
            lender = lenders.get_lender(session, code)
            lenders.set_status(session, lender, LenderStatus.SUSPENDED, NOW)
            session.commit()
        finally:
            session.close()

    return suspend


@dataclass(frozen=True)
class LiveServer:
    url: str
    app: Flask


@pytest.fixture
def live_server(database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    """The real app over real HTTP on 127.0.0.1 (random port), with the real clock."""
    app = create_app(
        {
            "database_url": database_url,
            "clock": SystemClock(),
            "oprf_key_dir": str(tmp_path / "live-keys"),
        }
    )
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LiveServer(f"http://127.0.0.1:{server.server_port}", app)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        app.extensions["registry"].engine.dispose()
