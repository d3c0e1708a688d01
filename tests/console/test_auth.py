"""Console access: login, throttling, sessions, CSRF, security headers, TOTP, roles."""

from __future__ import annotations

import importlib
import threading
from datetime import timedelta

import pyotp
import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from registry.db import make_session_factory
from registry.models import Operator
from registry.services import operators
from tests.console.helpers import PASSWORD, audit_events, csrf_of, post, sign_in

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


def test_login_page_has_the_form_and_security_headers(client):
    response = client.get("/console/login")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    for name in ('name="username"', 'name="password"', 'name="totp"', 'name="csrf_token"'):
        assert name in html
    assert 'type="submit"' in html
    assert response.headers["Content-Security-Policy"] == CSP
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "<script>" not in html and " style=" not in html and "onclick" not in html


def test_static_files_are_served_by_the_registry_with_headers(client):
    for path in ("/console/static/console/console.css", "/console/static/console/console.js"):
        response = client.get(path)
        assert response.status_code == 200
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        response.close()


def test_api_responses_do_not_get_console_headers(client):
    response = client.get("/healthz")
    assert "Content-Security-Policy" not in response.headers


def test_successful_login_redirects_to_the_dashboard_and_is_audited(client, make_operator, engine):
    make_operator("alice", "admin")
    response = sign_in(client, "alice")
    assert response.status_code == 302 and response.headers["Location"] == "/console/"
    cookie = response.headers.get_all("Set-Cookie")
    assert any("HttpOnly" in c and "SameSite=Lax" in c for c in cookie)
    assert client.get("/console/").status_code == 200
    (event,) = audit_events(engine, "login")
    assert event.actor == "operator:alice" and event.target == "alice"


def test_session_cookie_is_secure_in_production(database_url, clock):
    from registry import create_app

    app = create_app(
        {
            "database_url": database_url,
            "clock": clock,
            "env": "production",
            "secret_key": "x" * 40,
        }
    )
    try:
        assert app.config["SESSION_COOKIE_SECURE"] is True
    finally:
        app.extensions["registry"].engine.dispose()


def test_wrong_password_is_refused_and_audited(client, make_operator, engine):
    make_operator("alice", "admin")
    response = sign_in(client, "alice", "wrong password!!")
    assert response.status_code == 401
    assert "sign-in failed" in response.get_data(as_text=True)
    assert client.get("/console/").status_code == 302  # still signed out
    sign_in(client, "nobody", "whatever password")
    events = audit_events(engine, "login_failed")
    assert [(e.target, e.details["reason"]) for e in events] == [
        ("alice", "wrong_password"),
        ("nobody", "unknown_username"),
    ]


def client_at(app, address: str):
    """A test client whose requests come from `address`."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def test_failures_from_two_addresses_lock_the_username_for_fifteen_minutes(
    app, make_operator, engine, clock
):
    make_operator("alice", "admin")
    first, second = client_at(app, "10.0.0.1"), client_at(app, "10.0.0.2")
    for client in (first, first, first, second, second):
        assert sign_in(client, "alice", "wrong password!!").status_code == 401
    locked = sign_in(client_at(app, "10.0.0.3"), "alice")  # even the right password
    assert locked.status_code == 429
    assert "Too many failed sign-ins" in locked.get_data(as_text=True)
    failed = audit_events(engine, "login_failed")
    assert len(failed) == 5 and "locked_until" in failed[-1].details
    assert [e.details["by"] for e in audit_events(engine, "login_refused")] == ["username"]
    # Another username is not affected.
    make_operator("bob", "analyst")
    assert sign_in(client_at(app, "10.0.0.1"), "bob").status_code == 302
    clock.advance(timedelta(minutes=14, seconds=59))
    assert sign_in(client_at(app, "10.0.0.3"), "alice").status_code == 429
    clock.advance(timedelta(seconds=1))
    assert sign_in(client_at(app, "10.0.0.3"), "alice").status_code == 302


def test_one_client_cannot_lock_an_operator_out_it_locks_itself_out(
    app, make_operator, engine, clock
):
    make_operator("alice", "admin")
    make_operator("bob", "analyst")
    attacker = client_at(app, "203.0.113.7")
    for _ in range(operators.MAX_ADDRESS_FAILURES - 1):
        assert sign_in(attacker, "alice", "wrong password!!").status_code == 401
    # Alice, from her own address, is not locked out by someone else's guesses.
    assert sign_in(client_at(app, "10.0.0.1"), "alice").status_code == 302
    assert sign_in(attacker, "alice", "wrong password!!").status_code == 401
    # The attacker's address is now locked, whatever username it tries, even a right one.
    assert sign_in(attacker, "bob").status_code == 429
    assert sign_in(client_at(app, "10.0.0.2"), "bob").status_code == 302
    clock.advance(timedelta(minutes=15))
    assert sign_in(attacker, "bob").status_code == 302


def test_a_locked_client_costs_no_password_hash(app, make_operator, monkeypatch):
    make_operator("alice", "admin")
    attacker = client_at(app, "203.0.113.8")
    for _ in range(operators.MAX_ADDRESS_FAILURES):
        sign_in(attacker, "alice", "wrong password!!")
    checks: list[str] = []
    # The module, not the function the package re-exports under the same name.
    login_module = importlib.import_module("registry.services.operators.login")

    real = login_module.verify_password

    def counting(*args: str) -> bool:
        checks.append("x")
        return bool(real(*args))

    monkeypatch.setattr(login_module, "verify_password", counting)
    for name in ("alice", "nobody"):
        assert sign_in(attacker, name, "another guess").status_code == 429
    assert checks == []


def test_unknown_usernames_leave_no_row_and_a_capped_audit(app, engine):
    from registry.models import LoginThrottle

    guesser = client_at(app, "198.51.100.4")
    for n in range(operators.MAX_ADDRESS_FAILURES + 5):
        sign_in(guesser, f"nobody{n}", "whatever password")
    events = audit_events(engine, "login_failed")
    assert [e.details["reason"] for e in events] == ["unknown_username"] * 2
    assert "address_locked_until" in events[1].details
    assert audit_events(engine, "login_refused") == []  # refusals of nobody are not audited
    session = make_session_factory(engine)()
    try:
        keys = session.scalars(select(LoginThrottle.username)).all()
    finally:
        session.close()
    assert keys == ["ip:198.51.100.4"]


def test_failures_spread_over_more_than_fifteen_minutes_do_not_lock(app, make_operator, clock):
    make_operator("alice", "admin")
    first, second = client_at(app, "10.0.0.1"), client_at(app, "10.0.0.2")
    for client in (first, first, second, second):
        sign_in(client, "alice", "wrong password!!")
    clock.advance(timedelta(minutes=16))
    sign_in(second, "alice", "wrong password!!")
    assert sign_in(first, "alice").status_code == 302


def test_post_without_csrf_token_is_refused(app, make_operator):
    make_operator("alice", "admin")
    client = app.test_client()
    client.get("/console/login")
    response = client.post("/console/login", data={"username": "alice", "password": PASSWORD})
    assert response.status_code == 400
    assert "text/html" in response.content_type
    assert sign_in(client, "alice").status_code == 302
    response = client.post("/console/lenders/new", data={"code": "acme", "name": "Acme"})
    assert response.status_code == 400
    response = client.post(
        "/console/lenders/new", data={"code": "acme", "name": "Acme", "csrf_token": "forged"}
    )
    assert response.status_code == 400
    assert client.get("/console/lenders/acme").status_code == 404


def test_login_renews_the_csrf_token(client, make_operator):
    make_operator("alice", "admin")
    before = csrf_of(client)
    sign_in(client, "alice")
    with client.session_transaction() as cookie:
        assert cookie["csrf"] != before


def test_logout_ends_the_session_on_the_server(client, make_operator, engine):
    make_operator("alice", "admin")
    sign_in(client, "alice")
    with client.session_transaction() as cookie:
        saved = dict(cookie)
    response = post(client, "/console/logout")
    assert response.status_code == 302 and response.headers["Location"] == "/console/login"
    assert len(audit_events(engine, "logout")) == 1
    # Replaying the old cookie does not bring the session back.
    with client.session_transaction() as cookie:
        cookie.update(saved)
    assert client.get("/console/").status_code == 302


def test_session_expires_after_thirty_idle_minutes(client, make_operator, clock):
    make_operator("alice", "admin")
    sign_in(client, "alice")
    clock.advance(timedelta(minutes=29))
    assert client.get("/console/").status_code == 200
    clock.advance(timedelta(minutes=29))  # active 29 minutes ago: still valid
    assert client.get("/console/").status_code == 200
    clock.advance(timedelta(minutes=30))
    response = client.get("/console/")
    assert response.status_code == 302 and "/console/login" in response.headers["Location"]


def test_session_expires_after_eight_hours_even_when_active(client, make_operator, clock):
    make_operator("alice", "admin")
    sign_in(client, "alice")
    for _ in range(8 * 3 - 1):
        clock.advance(timedelta(minutes=20))
        assert client.get("/console/account").status_code == 200
    clock.advance(timedelta(minutes=20))  # 8 hours since login
    assert client.get("/console/account").status_code == 302


def test_disabled_operator_is_signed_out_and_cannot_sign_in(app, make_operator, console_as):
    make_operator("bob", "analyst")
    bob = app.test_client()
    sign_in(bob, "bob")
    admin = console_as("admin")
    assert post(admin, "/console/operators/bob/status", {"status": "disabled"}).status_code == 302
    assert bob.get("/console/").status_code == 302
    assert sign_in(app.test_client(), "bob").status_code == 401


def test_password_is_rehashed_when_parameters_change(client, make_operator, engine):
    make_operator("alice", "admin")
    previous = operators.use_password_hasher(
        PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1)
    )
    try:
        assert sign_in(client, "alice").status_code == 302
    finally:
        operators.use_password_hasher(previous)
    session = make_session_factory(engine)()
    try:
        stored = session.scalar(select(Operator.password_hash).where(Operator.username == "alice"))
    finally:
        session.close()
    assert stored is not None and "$argon2id$" in stored and "m=2048,t=2,p=1" in stored


def test_production_hasher_uses_the_library_defaults():
    defaults = PasswordHasher()
    operators.use_password_hasher(defaults)  # restored by the autouse fixture
    assert operators.hash_password("x" * 12).startswith(
        f"$argon2id$v=19$m={defaults.memory_cost},t={defaults.time_cost},p={defaults.parallelism}"
    )


def test_totp_enrolment_then_login_needs_a_code_or_a_recovery_code(
    app, make_operator, engine, clock
):
    make_operator("alice", "admin")
    client = app.test_client()
    sign_in(client, "alice")
    assert 'id="totp-start"' in client.get("/console/account").get_data(as_text=True)
    post(client, "/console/account/totp/start")
    page = client.get("/console/account").get_data(as_text=True)
    assert 'src="data:image/svg+xml' in page  # the QR code, served inline
    secret = page.split('id="totp-secret">', 1)[1].split("<", 1)[0]
    totp = pyotp.TOTP(secret)
    bad = post(client, "/console/account/totp/verify", {"code": "000000"})
    assert bad.status_code == 422 and "not valid" in bad.get_data(as_text=True)
    good = post(client, "/console/account/totp/verify", {"code": totp.at(clock.now())})
    html = good.get_data(as_text=True)
    assert good.status_code == 200 and 'id="recovery-codes"' in html
    codes = [part.split("</code>")[0] for part in html.split("<li><code>")[1:]]
    assert len(codes) == 10
    assert len(audit_events(engine, "totp_enabled")) == 1

    fresh = app.test_client()
    assert sign_in(fresh, "alice").status_code == 401  # code missing
    assert sign_in(fresh, "alice", totp="123456").status_code == 401
    # The code that confirmed the enrolment is spent: the next one opens the door.
    assert sign_in(fresh, "alice", totp=totp.at(clock.now())).status_code == 401
    clock.advance(timedelta(seconds=30))
    assert sign_in(fresh, "alice", totp=totp.at(clock.now())).status_code == 302
    # A code opens one login, even within its 30 seconds.
    assert sign_in(app.test_client(), "alice", totp=totp.at(clock.now())).status_code == 401
    other = app.test_client()
    assert sign_in(other, "alice", totp=codes[0]).status_code == 302
    assert sign_in(app.test_client(), "alice", totp=codes[0]).status_code == 401  # used once
    reasons = [e.details["reason"] for e in audit_events(engine, "login_failed")]
    assert reasons == [
        "totp_missing",
        "wrong_totp",
        "replayed_totp",
        "replayed_totp",
        "wrong_totp",
    ]


def test_totp_secret_is_stored_encrypted(app, make_operator, engine):
    make_operator("alice", "admin")
    client = app.test_client()
    sign_in(client, "alice")
    post(client, "/console/account/totp/start")
    page = client.get("/console/account").get_data(as_text=True)
    secret = page.split('id="totp-secret">', 1)[1].split("<", 1)[0]
    session = make_session_factory(engine)()
    try:
        stored = session.scalar(
            select(Operator.totp_secret_encrypted).where(Operator.username == "alice")
        )
    finally:
        session.close()
    assert stored and secret.encode() not in stored


def test_next_parameter_only_goes_to_console_pages(client, make_operator):
    make_operator("alice", "admin")
    token = csrf_of(client)
    response = client.post(
        "/console/login",
        data={
            "username": "alice",
            "password": PASSWORD,
            "csrf_token": token,
            "next": "https://evil.example/console/",
        },
    )
    assert response.headers["Location"] == "/console/"


def test_anonymous_visitor_is_sent_to_login(client):
    response = client.get("/console/lenders")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/console/login?next=")


@pytest.mark.committed
def test_parallel_failed_logins_are_all_counted_and_lock_the_username(app, make_operator, engine):
    """Failures are counted under row locks: a burst of parallel guesses cannot slip past
    the address's limit, and none of them ends in a 500."""
    make_operator("alice", "admin")
    statuses: list[int] = []

    def guess(n: int) -> None:
        client = app.test_client()
        for attempt in range(3):
            statuses.append(sign_in(client, "alice", f"guess {n}-{attempt}").status_code)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # All from one address: the address locks after its limit, counted exactly.
    assert sorted(set(statuses)) == [401, 429], statuses
    assert statuses.count(401) == operators.MAX_ADDRESS_FAILURES
    assert len(audit_events(engine, "login_failed")) == operators.MAX_ADDRESS_FAILURES
    assert len(audit_events(engine, "login_refused")) == 24 - operators.MAX_ADDRESS_FAILURES


def _enrol(app, clock, username: str = "alice"):
    """A signed-in client of `username` with TOTP on, and the authenticator."""
    client = app.test_client()
    sign_in(client, username)
    post(client, "/console/account/totp/start")
    page = client.get("/console/account").get_data(as_text=True)
    totp = pyotp.TOTP(page.split('id="totp-secret">', 1)[1].split("<", 1)[0])
    assert post(client, "/console/account/totp/verify", {"code": totp.at(clock.now())}).status_code
    clock.advance(timedelta(seconds=30))
    return client, totp


def test_turning_totp_off_needs_the_password_and_a_current_code(app, make_operator, engine, clock):
    make_operator("alice", "admin")
    client, totp = _enrol(app, clock)
    off = "/console/account/totp/disable"
    assert post(client, off, {"password": PASSWORD}).status_code == 422  # no code
    assert post(client, off, {"password": PASSWORD, "code": "000000"}).status_code == 422
    wrong = post(client, off, {"password": "not my password", "code": totp.at(clock.now())})
    assert wrong.status_code == 422
    assert "the password or the code is wrong" in wrong.get_data(as_text=True)
    reasons = [e.details["reason"] for e in audit_events(engine, "totp_disable_failed")]
    assert reasons == ["totp_missing", "wrong_totp", "wrong_password"]
    done = post(client, off, {"password": PASSWORD, "code": totp.at(clock.now())})
    assert done.status_code == 302
    assert len(audit_events(engine, "totp_disabled")) == 1
    assert sign_in(app.test_client(), "alice").status_code == 302  # no code asked any more


def test_guessing_the_code_to_turn_totp_off_is_locked_and_audited(
    app, make_operator, engine, clock
):
    make_operator("alice", "admin")
    client, totp = _enrol(app, clock)
    off = "/console/account/totp/disable"
    for n in range(operators.MAX_DISABLE_FAILURES):
        guess = post(client, off, {"password": PASSWORD, "code": f"{n:06d}"})
        assert guess.status_code == 422
    locked = post(client, off, {"password": PASSWORD, "code": totp.at(clock.now())})
    assert locked.status_code == 429  # even the right code, while locked
    failed = audit_events(engine, "totp_disable_failed")
    assert len(failed) == operators.MAX_DISABLE_FAILURES and "locked_until" in failed[-1].details
    assert len(audit_events(engine, "totp_disable_refused")) == 1
    clock.advance(timedelta(minutes=15))
    done = post(client, off, {"password": PASSWORD, "code": totp.at(clock.now())})
    assert done.status_code == 302
