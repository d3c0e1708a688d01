"""The server's half of the console's look-up by ID: one blinded element evaluated with its
proof (`POST /console/borrowers/evaluate`), audited and capped per operator, and nothing on
the server that takes an ID or a pepper. What the browser does with it is tested in
tests/crypto/test_js_voprf.py (the script) and tests/console/test_lookup_browser.py (the page).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

import rfc9497
from registry.services import audit
from registry.services.tokens import id_lookup
from registry_protocol.ids import normalize_id, token_input
from tests.console.helpers import audit_events, post
from tests.helpers import loan, tokenize

PEPPER = bytes.fromhex("11" * 32)
RESIDENT = "11010519491231002X"
EVALUATE = "/console/borrowers/evaluate"


def _inner(kind: str, value: str) -> bytes:
    return hmac.new(PEPPER, token_input(kind, normalize_id(kind, value)), hashlib.sha256).digest()


def _key(client: FlaskClient) -> tuple[str, bytes]:
    """The key id and public key the look-up page publishes to its script."""
    page = client.get("/console/borrowers").get_data(as_text=True)
    key_id = page.split('data-key-id="', 1)[1].split('"', 1)[0]
    public = page.split('data-public-key="', 1)[1].split('"', 1)[0]
    return key_id, bytes.fromhex(public)


def _form(blinded: bytes, key_id: str, changes: dict[str, str] | None = None) -> dict[str, str]:
    form = {
        "blinded_element": blinded.hex(),
        "key_id": key_id,
        "id_kind": "cn_resident_id",
        "reason": "dispute 42",
    }
    return form | (changes or {})


def _problem(response: Any) -> dict[str, Any]:
    assert response.mimetype == "application/problem+json", response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    return body


def test_the_browser_side_reaches_the_lenders_token(
    client, console_as, new_lender, token_key, engine
):
    """What the page's script does, done here with rfc9497: the token made from the
    console's evaluation is the lender's, and its look-up shows the lender's loan."""
    alpha = new_lender("alpha")
    [expected] = tokenize(client, alpha.api_key, PEPPER, [("cn_resident_id", RESIDENT)])
    client.post("/v1/loans", json={"loans": [loan("A-1", expected)]}, headers=alpha.headers)
    analyst = console_as("analyst")
    key_id, public_key = _key(analyst)
    inner = _inner("cn_resident_id", RESIDENT.lower())
    blind, blinded = rfc9497.blind(inner, rfc9497.Mode.VOPRF)

    response = post(analyst, EVALUATE, _form(blinded, key_id))
    assert response.status_code == 200, response.get_data(as_text=True)
    answer = response.get_json()
    assert answer["key_id"] == key_id and response.headers["Cache-Control"] == "no-store"
    [output] = rfc9497.verify_and_finalize_batch(
        public_key,
        [inner],
        [blind],
        [blinded],
        [bytes.fromhex(answer["evaluated_elements"][0])],
        bytes.fromhex(answer["proof"]),
    )
    token = output[:32].hex()
    assert token == expected

    [evaluation] = audit_events(engine, "token_evaluation")
    assert evaluation.actor == "operator:analyst1" and evaluation.target == f"key:{key_id}"
    assert evaluation.details == {"id_kind": "cn_resident_id", "reason": "dispute 42"}
    page = post(analyst, "/console/borrowers", {"token": token, "reason": "dispute 42"})
    assert page.status_code == 200 and "alpha" in page.get_data(as_text=True)
    [shown] = audit_events(engine, "lookup")
    assert shown.target == expected and shown.details["reason"] == "dispute 42"


def test_the_page_publishes_the_key_and_has_no_field_for_the_id_or_the_pepper(
    console_as, token_key
):
    html = console_as("analyst").get("/console/borrowers").get_data(as_text=True)
    assert f'data-public-key="{token_key.public_key.hex()}"' in html
    assert f'data-key-id="{token_key.key_id}"' in html
    assert 'id="id-value"' in html and 'id="id-pepper"' in html
    assert 'name="id_value"' not in html and 'name="pepper"' not in html
    assert "console/lookup.js" in html and "console/ristretto255.js" in html
    assert "<script>" not in html  # the CSP allows no inline script


def test_without_a_token_key_the_page_says_so(console_as):
    html = console_as("analyst").get("/console/borrowers").get_data(as_text=True)
    assert 'id="lookup-id"' not in html and "registry keys init" in html


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"blinded_element": "00" * 32}, "blinded_element"),  # the identity
        ({"blinded_element": "zz"}, "blinded_element"),
        ({"id_kind": "phone"}, "id_kind"),  # not a borrower kind
        ({"key_id": "k-old"}, "key_id"),
        ({"reason": "  "}, "reason"),
    ],
)
def test_bad_requests_get_a_problem_naming_the_field(console_as, token_key, engine, change, field):
    analyst = console_as("analyst")
    key_id, _ = _key(analyst)
    _, blinded = rfc9497.blind(b"x", rfc9497.Mode.VOPRF)
    response = post(analyst, EVALUATE, _form(blinded, key_id, change))
    assert response.status_code == 422
    assert [e["field"] for e in _problem(response)["errors"]] == [field]
    assert audit_events(engine, "token_evaluation") == []


def test_evaluation_needs_the_csrf_token_and_a_role_that_looks_up(console_as, token_key):
    analyst = console_as("analyst")
    key_id, _ = _key(analyst)
    _, blinded = rfc9497.blind(b"x", rfc9497.Mode.VOPRF)
    assert analyst.post(EVALUATE, data=_form(blinded, key_id)).status_code == 400
    assert post(console_as("auditor"), EVALUATE, _form(blinded, key_id)).status_code == 403


def test_an_operator_gets_a_few_evaluations_a_day(
    console_as, token_key, engine, monkeypatch, clock, db_session
):
    monkeypatch.setattr(id_lookup, "OPERATOR_EVALUATIONS_PER_DAY", 2)
    analyst, other = console_as("analyst"), console_as("analyst")
    key_id, _ = _key(analyst)
    _, blinded = rfc9497.blind(b"x", rfc9497.Mode.VOPRF)
    for _ in range(2):
        assert post(analyst, EVALUATE, _form(blinded, key_id)).status_code == 200
    refused = post(analyst, EVALUATE, _form(blinded, key_id))
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert _problem(refused)["type"] == "/problems/token-quota-exceeded"
    assert len(audit_events(engine, "token_evaluation")) == 2  # the refusal is not one
    assert post(other, EVALUATE, _form(blinded, key_id)).status_code == 200
    analyst1 = audit.Actor.operator("analyst1", None, None)
    assert id_lookup.evaluations_today(db_session, analyst1, clock.now()) == 2
    tomorrow = datetime.combine(clock.now().date() + timedelta(days=1), time(), tzinfo=UTC)
    assert id_lookup.evaluations_today(db_session, analyst1, tomorrow) == 0
    assert id_lookup.evaluations_today(db_session, analyst1, tomorrow - timedelta(seconds=1)) == 2


def test_no_route_takes_an_id_or_a_pepper(console_as, token_key, engine):
    """The look-up by ID that took the pepper is gone: its form fields lead nowhere."""
    analyst = console_as("analyst")
    form = {"id_kind": "cn_resident_id", "id_value": RESIDENT, "pepper": PEPPER.hex()}
    assert post(analyst, "/console/borrowers/by-id", form | {"reason": "r"}).status_code == 405
    answer = post(analyst, "/console/borrowers", form | {"reason": "r"})
    assert answer.status_code == 422 and RESIDENT not in answer.get_data(as_text=True)
    assert audit_events(engine, "token_lookup") == []
