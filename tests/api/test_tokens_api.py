"""`/v1/tokens`: the published key, batched VOPRF evaluation with proofs, invalid elements,
the per-lender daily quota, and where the secret key lives (and never goes)."""

from __future__ import annotations

import os
import stat
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

import rfc9497
from registry import create_app
from registry.db import transaction
from registry.models import AuditEvent, TokenKey, TokenUsage
from registry.services import audit, lenders, tokens
from registry.signer import Signer, SignerError
from tests.conftest import create_token_key
from tests.helpers import bearer

IDENTITY = "00" * 32


def blind_batch(count: int, seed: str = "x") -> tuple[list[bytes], list[bytes], list[bytes]]:
    inputs = [f"{seed}-{i}".encode() for i in range(count)]
    blinds, blinded = zip(*(rfc9497.blind(x, rfc9497.Mode.VOPRF) for x in inputs), strict=True)
    return inputs, list(blinds), list(blinded)


def evaluate(client, api_key, elements, **extra):
    return client.post(
        "/v1/tokens/evaluate",
        json={"blinded_elements": elements, **extra},
        headers=bearer(api_key),
    )


def test_key_is_published_with_suite_and_mode(client, new_lender, token_key, app):
    acme = new_lender("acme")
    body = client.get("/v1/tokens/key", headers=bearer(acme.api_key)).get_json()
    assert body == {
        "suite": "ristretto255-SHA512",
        "mode": "voprf",
        "key_id": token_key.key_id,
        "public_key": token_key.public_key.hex(),
        "pepper_fingerprint": None,  # until the operator records it
        "rotation": None,
    }
    assert app.extensions["registry"].signer.public_key(token_key.key_id) == token_key.public_key


def test_no_key_yet_is_a_503_problem(client, new_lender):
    response = client.get("/v1/tokens/key", headers=bearer(new_lender().api_key))
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert "registry keys init" in response.get_json()["detail"]


def test_token_endpoints_need_an_api_key(client, token_key):
    assert client.get("/v1/tokens/key").status_code == 401
    assert client.post("/v1/tokens/evaluate", json={"blinded_elements": []}).status_code == 401


def test_a_batch_is_evaluated_with_one_proof_the_client_verifies(client, new_lender, token_key):
    acme = new_lender("acme")
    inputs, blinds, blinded = blind_batch(1000)
    response = evaluate(client, acme.api_key, [b.hex() for b in blinded])
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["key_id"] == token_key.key_id
    assert len(body["evaluated_elements"]) == 1000 and len(body["proof"]) == 128
    evaluated = [bytes.fromhex(e) for e in body["evaluated_elements"]]
    outputs = rfc9497.verify_and_finalize_batch(
        token_key.public_key, inputs, blinds, blinded, evaluated, bytes.fromhex(body["proof"])
    )
    # The same inputs blinded afresh give the same outputs: tokens are deterministic.
    _, blinds2, blinded2 = blind_batch(3)
    again = evaluate(client, acme.api_key, [b.hex() for b in blinded2]).get_json()
    outputs2 = rfc9497.verify_and_finalize_batch(
        token_key.public_key,
        inputs[:3],
        blinds2,
        blinded2,
        [bytes.fromhex(e) for e in again["evaluated_elements"]],
        bytes.fromhex(again["proof"]),
    )
    assert outputs2 == outputs[:3]


def test_a_swapped_public_key_fails_verification(client, new_lender, token_key):
    inputs, blinds, blinded = blind_batch(2)
    body = evaluate(client, new_lender().api_key, [b.hex() for b in blinded]).get_json()
    _, other_public = rfc9497.generate_key_pair(rfc9497.Mode.VOPRF)
    with pytest.raises(rfc9497.VerifyError):
        rfc9497.verify_and_finalize_batch(
            other_public,
            inputs,
            blinds,
            blinded,
            [bytes.fromhex(e) for e in body["evaluated_elements"]],
            bytes.fromhex(body["proof"]),
        )


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        (IDENTITY, "identity"),
        ("ff" * 32, "non-canonical"),
        ("zz" * 32, "not hex"),
        ("ab" * 31, "too short"),
        (7, "not a string"),
    ],
)
def test_an_invalid_element_is_a_400_naming_its_index(client, new_lender, token_key, bad, why):
    _, _, blinded = blind_batch(3)
    elements = [b.hex() for b in blinded]
    elements.insert(2, bad)
    response = evaluate(client, new_lender().api_key, elements)
    assert response.status_code == 400, why
    body = response.get_json()
    assert body["type"] == "/problems/invalid-element"
    assert [e["field"] for e in body["errors"]] == ["blinded_elements[2]"]


def test_the_high_bit_encoding_of_a_valid_element_is_rejected(client, new_lender, token_key):
    _, _, blinded = blind_batch(1)
    twin = blinded[0][:31] + bytes([blinded[0][31] | 0x80])
    response = evaluate(client, new_lender().api_key, [twin.hex()])
    assert response.status_code == 400


@pytest.mark.parametrize("count", [0, 1001])
def test_batch_size_is_1_to_1000(client, new_lender, token_key, count):
    _, _, blinded = blind_batch(1)
    response = evaluate(client, new_lender().api_key, [blinded[0].hex()] * count)
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"] == "blinded_elements"


def test_an_unknown_key_id_is_refused(client, new_lender, token_key):
    _, _, blinded = blind_batch(1)
    response = evaluate(client, new_lender().api_key, [blinded[0].hex()], key_id="k20260101abcdef")
    assert response.status_code == 400
    assert response.get_json()["errors"][0]["field"] == "key_id"


def test_quota_is_per_lender_and_day_with_retry_after(
    client, new_lender, token_key, db_session, clock
):
    acme, other = new_lender("acme"), new_lender("other")
    lender = lenders.get_lender(db_session, "acme")
    with transaction(db_session):
        tokens.set_quota(db_session, lender, 5, clock.now(), audit.CLI)
    _, _, blinded = blind_batch(3)
    elements = [b.hex() for b in blinded]
    assert evaluate(client, acme.api_key, elements).status_code == 200
    refused = evaluate(client, acme.api_key, elements)
    assert refused.status_code == 429
    assert refused.get_json()["type"] == "/problems/token-quota-exceeded"
    assert refused.headers["Retry-After"] == str(12 * 3600)  # until 00:00 UTC
    assert "2 left today" in refused.get_json()["detail"]
    # A refused batch is not counted; a smaller one still fits.
    assert evaluate(client, acme.api_key, elements[:2]).status_code == 200
    assert evaluate(client, acme.api_key, elements[:1]).status_code == 429
    # Another lender has its own count (the registry default).
    assert evaluate(client, other.api_key, elements).status_code == 200
    usage = dict(
        db_session.execute(select(TokenUsage.lender_id, TokenUsage.elements)).tuples().all()
    )
    db_session.rollback()
    assert usage == {acme.id: 5, other.id: 3}
    clock.advance(timedelta(days=1))
    assert evaluate(client, acme.api_key, elements).status_code == 200


@pytest.mark.committed
def test_default_quota_comes_from_settings(database_url, new_lender, tmp_path, clock):
    app = create_app(
        {
            "database_url": database_url,
            "clock": clock,
            "oprf_key_dir": str(tmp_path / "k"),
            "token_quota_per_day": 4,
        }
    )
    create_token_key(app)
    client = app.test_client()
    _, _, blinded = blind_batch(5)
    response = evaluate(client, new_lender().api_key, [b.hex() for b in blinded])
    assert response.status_code == 429
    app.extensions["registry"].engine.dispose()


def test_secret_key_is_an_owner_only_file_never_in_the_database(app, token_key, db_session):
    key_dir = app.extensions["registry"].settings.oprf_key_dir
    path = os.path.join(key_dir, f"{token_key.key_id}.key")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(key_dir).st_mode) == 0o700
    secret = bytes.fromhex(Path(path).read_text().strip())
    assert rfc9497.public_key(secret) == token_key.public_key
    row = db_session.get(TokenKey, token_key.key_id)
    assert row is not None and secret not in (row.public_key, row.key_id.encode())
    events = db_session.scalars(select(AuditEvent)).all()
    assert [e.action for e in events] == ["token_key_created"]
    assert secret.hex() not in repr([(e.details, e.target) for e in events])
    assert secret.hex() not in repr(app.extensions["registry"].signer)


def test_signer_refuses_a_key_file_others_can_read(tmp_path):
    signer = Signer(tmp_path / "keys", "")
    key_id, _ = signer.create_key(date(2026, 11, 25))
    os.chmod(tmp_path / "keys" / f"{key_id}.key", 0o644)
    with pytest.raises(SignerError, match="owner only"):
        Signer(tmp_path / "keys", "").public_key(key_id)


def test_signer_takes_keys_from_the_environment_too():
    secret, public = rfc9497.derive_key_pair(b"s" * 32, b"info", rfc9497.Mode.VOPRF)
    signer = Signer(None, f"k20261125abcdef:{secret.hex()}")
    assert signer.public_key("k20261125abcdef") == public
    assert secret.hex() not in repr(signer)
    with pytest.raises(SignerError):
        Signer(None, "k20261125abcdef:zz")


def test_secret_never_reaches_the_logs(client, new_lender, token_key, app, caplog):
    caplog.set_level("DEBUG")
    _, _, blinded = blind_batch(2)
    evaluate(client, new_lender().api_key, [b.hex() for b in blinded])
    evaluate(client, new_lender().api_key, [IDENTITY])
    key_dir = app.extensions["registry"].settings.oprf_key_dir
    secret_hex = (Path(key_dir) / f"{token_key.key_id}.key").read_text().strip()
    assert secret_hex not in caplog.text
