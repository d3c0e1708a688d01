"""The inquiry's per-worker copies (registry.hot_cache) of an API key's lender, the policy and
a good give-to-get standing, on both backends: a change made through the ORM in this process
(a key revoked, a lender suspended, the policy changed) is seen by the very next inquiry; one
made behind the ORM's back (another process: here a Core UPDATE on the test's connection,
which fires no session event) within REGISTRY_CACHE_SECONDS."""

from __future__ import annotations

import time
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Connection, Engine, update

from registry import create_app
from registry.db import make_session_factory, transaction
from registry.hot_cache import HotCache, invalidate
from registry.models import ApiKey, Lender, PolicyRule
from registry.services import lenders
from registry.services.policy import set_threshold
from tests.helpers import NOW, loan, token

CACHE_SECONDS = 1
AFTER_EXPIRY = CACHE_SECONDS + 0.2


@pytest.fixture
def cached_app(database_url: str, bind: Engine | Connection, clock: Any, tmp_path: Any) -> Any:
    app: Flask = create_app(
        {
            "database_url": database_url,
            "bind": bind,
            "clock": clock,
            "oprf_key_dir": str(tmp_path / "keys"),
            "cache_seconds": CACHE_SECONDS,
        }
    )
    app.config["TESTING"] = True
    yield app
    app.extensions["registry"].engine.dispose()


@pytest.fixture
def cached_client(cached_app: Flask) -> Any:
    return cached_app.test_client()


def inquire(client: Any, lender: Any, borrower: int = 1) -> Any:
    body = {"borrower": token(borrower), "purpose": "new_credit", "consent_ref": "c-1"}
    return client.post("/v1/inquiries", json=body, headers=lender.headers)


def behind_the_orm(bind: Engine | Connection, statement: Any) -> None:
    """A change as another process makes it: no session of this process sees it happen."""
    if isinstance(bind, Connection):
        bind.execute(statement)
    else:
        with bind.begin() as connection:
            connection.execute(statement)


def test_a_key_revoked_elsewhere_is_refused_within_the_cache_time(cached_client, new_lender, bind):
    lender = new_lender()
    assert inquire(cached_client, lender).status_code == 200
    prefix = lender.api_key.split("_")[1]
    behind_the_orm(bind, update(ApiKey).where(ApiKey.prefix == prefix).values(revoked_at=NOW))
    # The worker answers from its copy for at most CACHE_SECONDS ...
    assert inquire(cached_client, lender).status_code == 200
    time.sleep(AFTER_EXPIRY)
    # ... and then reads the key again.
    refused = inquire(cached_client, lender)
    assert refused.status_code == 401
    assert "revoked" in refused.get_json()["detail"]


def test_a_key_revoked_through_this_process_is_refused_at_once(cached_client, new_lender, bind):
    lender = new_lender()
    assert inquire(cached_client, lender).status_code == 200
    session = make_session_factory(bind)()
    try:
        row = lenders.get_lender(session, lender.code)
        lenders.revoke_key(session, row, lender.api_key.split("_")[1], NOW)
        session.commit()
    finally:
        session.close()
    assert inquire(cached_client, lender).status_code == 401


def test_a_suspended_lender_is_refused_at_once_and_within_the_cache_time(
    cached_client, new_lender, suspend_lender, bind
):
    here, elsewhere = new_lender(), new_lender()
    assert inquire(cached_client, here).status_code == 200
    assert inquire(cached_client, elsewhere).status_code == 200
    suspend_lender(here.code)  # through the ORM: at once
    assert inquire(cached_client, here).status_code == 403
    behind_the_orm(bind, update(Lender).where(Lender.id == elsewhere.id).values(status="suspended"))
    time.sleep(AFTER_EXPIRY)
    refused = inquire(cached_client, elsewhere)
    assert refused.status_code == 403
    assert "suspended" in refused.get_json()["detail"]


def flags(response: Any) -> list[str]:
    assert response.status_code == 200, response.get_json()
    return [flag["code"] for flag in response.get_json()["flags"]]


def test_a_policy_change_is_applied_at_once_and_within_the_cache_time(
    cached_client, new_lender, bind
):
    reporter, asker = new_lender(), new_lender()
    written_off = loan("W-1", status="written_off", days_past_due=120, outstanding=50_000)
    upload = cached_client.post(
        "/v1/loans", json={"loans": [written_off]}, headers=reporter.headers
    )
    assert upload.status_code == 200
    assert "WRITTEN_OFF" in flags(inquire(cached_client, asker))
    session = make_session_factory(bind)()
    try:
        with transaction(session):  # through the ORM (as the console does): at once
            set_threshold(session, "WRITTEN_OFF", 2, NOW)
    finally:
        session.close()
    assert "WRITTEN_OFF" not in flags(inquire(cached_client, asker))
    behind_the_orm(
        bind, update(PolicyRule).where(PolicyRule.code == "WRITTEN_OFF").values(threshold=1)
    )
    time.sleep(AFTER_EXPIRY)
    assert "WRITTEN_OFF" in flags(inquire(cached_client, asker))


def test_a_copy_expires_and_a_watched_change_voids_every_copy() -> None:
    cache: HotCache[int] = HotCache(seconds=0.2)
    loads: list[int] = []

    def load() -> int:
        loads.append(1)
        return len(loads)

    assert cache.get("k", load) == 1
    assert cache.get("k", load) == 1  # kept
    invalidate()  # what a flush of an API key, a lender or a policy rule does
    assert cache.get("k", load) == 2
    time.sleep(0.25)
    assert cache.get("k", load) == 3
    assert HotCache[int](seconds=0).get("k", load) == 4  # 0: never kept


def test_the_setting_bounds_the_cache_time() -> None:
    from registry.config import ConfigError, Settings

    assert Settings.from_env({}).cache_seconds == 2
    assert Settings.from_env({"REGISTRY_CACHE_SECONDS": "0"}).validated().cache_seconds == 0
    with pytest.raises(ConfigError):
        Settings.from_env({"REGISTRY_CACHE_SECONDS": "61"}).validated()
