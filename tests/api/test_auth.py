"""Lender authentication: bearer keys, stored hashed, several per lender, suspension."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from registry.models import ApiKey
from registry.services import lenders
from tests.helpers import NOW, loan, token

ENDPOINTS = [
    ("post", "/v1/loans", {"loans": [loan()]}),
    ("get", "/v1/loans", None),
    ("get", "/v1/loans/L-1", None),
    ("post", "/v1/inquiries", {"borrower": token(1), "purpose": "account_review"}),
]


def call(client, method, path, body, headers):
    return getattr(client, method)(path, json=body, headers=headers)


@pytest.mark.parametrize("method, path, body", ENDPOINTS)
@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Bearer not-a-key",
        "Bearer rk_aaaaaaaaaaaa_" + "A" * 43,
    ],
)
def test_missing_malformed_or_unknown_key_is_401(
    client, new_lender, method, path, body, authorization
):
    new_lender()
    headers = {} if authorization is None else {"Authorization": authorization}
    response = call(client, method, path, body, headers)
    assert response.status_code == 401
    assert response.content_type == "application/problem+json"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.get_json()["type"] == "/problems/unauthenticated"


def test_right_prefix_wrong_secret_is_401(client, new_lender):
    key = new_lender().api_key
    forged = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    assert client.get("/v1/loans", headers={"Authorization": f"Bearer {forged}"}).status_code == 401


@pytest.mark.parametrize("method, path, body", ENDPOINTS)
def test_suspended_lender_is_403(client, new_lender, suspend_lender, method, path, body):
    lender = new_lender()
    suspend_lender(lender.code)
    response = call(client, method, path, body, lender.headers)
    assert response.status_code == 403
    assert response.get_json()["type"] == "/problems/forbidden"


def test_several_keys_work_and_a_revoked_one_does_not(client, new_lender, db_session):
    lender = new_lender()
    row = lenders.get_lender(db_session, lender.code)
    second = lenders.issue_key(db_session, row, NOW, label="rotation")
    db_session.commit()
    for key in (lender.api_key, second.secret):
        assert (
            client.get("/v1/loans", headers={"Authorization": f"Bearer {key}"}).status_code == 200
        )
    first_prefix = lender.api_key.split("_")[1]
    lenders.revoke_key(db_session, row, first_prefix, NOW + timedelta(minutes=1))
    db_session.commit()
    assert client.get("/v1/loans", headers=lender.headers).status_code == 401
    assert (
        client.get("/v1/loans", headers={"Authorization": f"Bearer {second.secret}"}).status_code
        == 200
    )


def test_keys_are_random_and_stored_only_as_hashes(new_lender, db_session):
    keys = [new_lender().api_key for _ in range(3)]
    assert len(set(keys)) == 3
    rows = db_session.scalars(select(ApiKey)).all()
    db_session.rollback()
    for key, row in zip(keys, rows, strict=True):
        secret = key.split("_", 2)[2]
        assert len(secret) == 43  # 256 random bits, base64url
        assert row.prefix in key
        assert secret.encode() not in row.secret_hash and len(row.secret_hash) == 32
        assert key not in repr(row.__dict__)


def test_a_lender_acts_only_as_itself(client, new_lender):
    a, b = new_lender(), new_lender()
    client.post("/v1/loans", json={"loans": [loan("A-1")]}, headers=a.headers)
    assert client.get("/v1/loans/A-1", headers=a.headers).status_code == 200
    assert client.get("/v1/loans/A-1", headers=b.headers).status_code == 404
