"""`GET /v1/tokens/rotation/pending` and `POST /v1/tokens/rotation/mappings`: a lender's
rows without a next token (closed and written-off loans, inquiries within retention), paged
with totals, its own only, whatever other lenders map; next tokens sent for them."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from registry.db import transaction
from registry.models import Inquiry, RotationKind
from registry.services import audit, tokens
from tests.helpers import NOW, bearer, loan, token

PENDING = "/v1/tokens/rotation/pending"
MAPPINGS = "/v1/tokens/rotation/mappings"


def report(client, lender, record, borrower_next=None):
    if borrower_next:
        record = {**record, "borrower_next": borrower_next}
    response = client.post("/v1/loans", json={"loans": [record]}, headers=bearer(lender.api_key))
    assert response.status_code == 200 and not response.get_json()["rejected"]


def inquire(client, lender, borrower):
    payload = {"borrower": borrower, "purpose": "new_credit", "consent_ref": "c-1"}
    response = client.post("/v1/inquiries", json=payload, headers=bearer(lender.api_key))
    assert response.status_code == 200, response.get_json()
    return response.get_json()["inquiry_id"]


def pending(client, lender, **params):
    return client.get(PENDING, query_string=params, headers=bearer(lender.api_key))


def mappings(client, lender, pairs):
    body = {"mappings": [{"borrower": a, "borrower_next": b} for a, b in pairs]}
    return client.post(MAPPINGS, json=body, headers=bearer(lender.api_key))


@pytest.fixture
def window(app, db_session, token_key):
    def open_it():
        state = app.extensions["registry"]
        with transaction(db_session):
            tokens.start_rotation(db_session, state.signer, RotationKind.PEPPER, NOW, audit.CLI)

    return open_it


def test_outside_a_window_both_routes_answer_409(client, new_lender, token_key):
    alpha = new_lender("alpha")
    for response in (pending(client, alpha), mappings(client, alpha, [(token(1), token(2))])):
        assert response.status_code == 409
        problem = response.get_json()
        assert problem["type"] == "/problems/no-rotation-window"
        assert response.mimetype == "application/problem+json"


def test_pending_lists_closed_loans_and_inquiries_paged_with_totals(
    client, db_session, new_lender, window
):
    alpha, beta = new_lender("alpha"), new_lender("beta")
    report(client, alpha, loan("A-1", 1))
    report(client, alpha, loan("A-2", 2, status="closed"))
    report(client, alpha, loan("A-3", 3, status="written_off", days_past_due=100))
    inquiry = inquire(client, alpha, token(4))
    report(client, beta, loan("B-1", 1))
    with transaction(db_session):  # three years old: past retention, not waited for
        db_session.add(
            Inquiry(
                borrower=bytes.fromhex(token(5)),
                id=str(uuid.uuid4()),
                lender_id=alpha.id,
                purpose="new_credit",
                flags=[],
                created_at=NOW - timedelta(days=1100),
                report={},
            )
        )
    window()
    everything = pending(client, alpha, limit=1000).get_json()
    assert [(i["kind"], i["loan_ref"], i["status"]) for i in everything["data"]] == [
        ("loan", "A-1", "open"),
        ("loan", "A-2", "closed"),
        ("loan", "A-3", "written_off"),
        ("inquiry", None, None),
    ]
    assert everything["data"][3]["inquiry_id"] == inquiry
    assert everything["data"][1]["borrower"] == token(2)
    assert everything["next_cursor"] is None
    assert everything["totals"] == {
        "loans": {"open": 1, "closed": 1, "written_off": 1},
        "inquiries": 1,
        "application_outcomes": 0,
        "disputes": 0,
        "borrowers": 4,
        "total": 4,
    }
    # Page by page, the same rows in the same order, the totals on each page.
    seen, cursor = [], None
    while True:
        params = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        page = pending(client, alpha, **params).get_json()
        assert page["totals"]["total"] == 4
        seen.extend(page["data"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == everything["data"]
    only = pending(client, alpha, kind="inquiry").get_json()
    assert [i["kind"] for i in only["data"]] == ["inquiry"]
    assert only["totals"]["total"] == 1

    # beta re-reports its loan about borrower 1: alpha's list does not change (it says
    # nothing about other lenders); alpha's own mappings take its rows off the list.
    report(client, beta, loan("B-1", 1), token("next-1"))
    assert pending(client, alpha).get_json()["totals"]["total"] == 4
    sent = mappings(client, alpha, [(token(2), token("next-2")), (token(4), token("next-4"))])
    assert sent.status_code == 200
    assert sent.get_json() == {
        "matched": 2,
        "unmatched": 0,
        "rows": {"loan": 1, "inquiry": 1, "application_outcome": 0, "dispute": 0},
    }
    left = pending(client, alpha).get_json()
    assert [i["loan_ref"] for i in left["data"]] == ["A-1", "A-3"]
    assert left["totals"]["loans"] == {"open": 1, "closed": 0, "written_off": 1}
    assert pending(client, beta).get_json()["totals"]["total"] == 0


def test_mappings_touch_only_the_callers_rows(client, db_session, new_lender, window):
    alpha, beta = new_lender("alpha"), new_lender("beta")
    report(client, alpha, loan("A-1", 1, status="closed"))
    report(client, beta, loan("B-1", 1, status="closed"))
    window()
    body = mappings(client, beta, [(token(1), token("next-1")), (token(9), token("next-9"))])
    assert body.get_json()["matched"] == 1 and body.get_json()["unmatched"] == 1
    assert [i["loan_ref"] for i in pending(client, alpha).get_json()["data"]] == ["A-1"]
    assert pending(client, beta).get_json()["data"] == []


def test_bad_requests_name_the_field(client, new_lender, window):
    alpha = new_lender("alpha")
    window()
    for params, field in (
        ({"limit": 0}, "limit"),
        ({"limit": "x"}, "limit"),
        ({"kind": "phone"}, "kind"),
        ({"cursor": "!!"}, "cursor"),
    ):
        response = pending(client, alpha, **params)
        assert response.status_code == 422, params
        assert response.get_json()["errors"][0]["field"] == field
    for pairs, field in (
        ([(token(1), token(1))], "mappings[0].borrower_next"),
        ([(token(1), token(2)), (token(1), token(3))], "mappings[1].borrower_next"),
        ([("AB" * 32, token(2))], "mappings[0].borrower"),
    ):
        response = mappings(client, alpha, pairs)
        assert response.status_code == 422, pairs
        assert response.get_json()["errors"][0]["field"] == field
    empty = client.post(MAPPINGS, json={"mappings": []}, headers=bearer(alpha.api_key))
    assert empty.status_code == 422
    assert client.get(PENDING).status_code == 401
