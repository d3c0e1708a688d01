"""Odd and hostile input found by review and fuzzing: each is a clean 4xx or a per-record
rejection on both backends, never a 500 that loses the rest of the batch."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.helpers import loan, token


def post_raw(client: Any, lender: Any, text: str, path: str = "/v1/loans") -> Any:
    return client.post(
        path, data=text.encode(), content_type="application/json", headers=lender.headers
    )


@pytest.mark.parametrize("loan_ref", ["A\u0000B", "tab\there", "line\nbreak", "del\u007f"])
def test_control_characters_in_a_loan_ref_reject_only_that_record(client, new_lender, loan_ref):
    lender = new_lender()
    response = client.post(
        "/v1/loans", json={"loans": [loan("GOOD"), loan(loan_ref)]}, headers=lender.headers
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["accepted"] == 1
    assert body["rejected"][0]["errors"][0]["field"] == "loans[1].loan_ref"
    assert client.get("/v1/loans/GOOD", headers=lender.headers).status_code == 200


def test_a_lone_surrogate_rejects_only_its_record(client, new_lender):
    lender = new_lender()
    good = json.dumps(loan("GOOD"))
    bad = json.dumps(loan("PLACEHOLDER")).replace("PLACEHOLDER", "\\ud800")
    response = post_raw(client, lender, f'{{"loans": [{good}, {bad}]}}')
    assert response.status_code == 200
    body = response.get_json()
    assert body["accepted"] == 1
    assert body["rejected"][0]["errors"][0]["field"] == "loans[1].loan_ref"


@pytest.mark.parametrize("as_of", ["9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00"])
def test_timestamps_that_overflow_in_utc_reject_only_their_record(client, new_lender, as_of):
    lender = new_lender()
    response = client.post(
        "/v1/loans", json={"loans": [loan("GOOD"), loan("X", as_of=as_of)]}, headers=lender.headers
    )
    assert response.status_code == 200
    assert response.get_json()["rejected"][0]["errors"][0]["field"] == "loans[1].as_of"


@pytest.mark.parametrize("path", ["/v1/loans/A%00B", "/v1/loans/" + "x" * 65, "/v1/loans/%1b"])
def test_impossible_loan_refs_in_the_path_are_404(client, new_lender, path):
    response = client.get(path, headers=new_lender().headers)
    assert response.status_code == 404
    assert response.content_type == "application/problem+json"


@pytest.mark.parametrize("query", ["limit=%C2%B2", "limit=%D9%A3", "cursor=QQBC", "limit=1e3"])
def test_non_ascii_digits_and_bad_cursors_are_422(client, new_lender, query):
    response = client.get(f"/v1/loans?{query}", headers=new_lender().headers)
    assert response.status_code == 422


def test_nul_in_a_consent_ref_is_a_422(client, new_lender):
    response = client.post(
        "/v1/inquiries",
        headers=new_lender().headers,
        json={"borrower": token(1), "purpose": "new_credit", "consent_ref": "c\u0000"},
    )
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"] == "consent_ref"


def test_loans_null_is_reported_as_not_a_list(client, new_lender):
    response = client.post("/v1/loans", json={"loans": None}, headers=new_lender().headers)
    assert response.status_code == 422
    assert response.get_json()["errors"] == [
        {"field": "loans", "message": "must be a list of loan reports"}
    ]


def test_duplicate_json_keys_take_the_last_value_consistently(client, new_lender):
    lender = new_lender()
    record = json.dumps(loan("DUP"))[:-1] + ', "outstanding": 7}'
    assert post_raw(client, lender, f'{{"loans": [{record}]}}').get_json()["accepted"] == 1
    assert client.get("/v1/loans/DUP", headers=lender.headers).get_json()["outstanding"] == 7


@pytest.mark.parametrize("body", ["", "null", "42", '"text"', "[]", "{"])
def test_bodies_that_are_not_objects(client, new_lender, body):
    response = post_raw(client, new_lender(), body)
    assert response.status_code in (400, 422)
    assert response.content_type == "application/problem+json"


@pytest.mark.parametrize("loan_ref", ["/x", "a//b", "x/", "//", "../.."])
def test_loan_refs_with_any_slashes_round_trip(client, new_lender, loan_ref):
    from urllib.parse import quote

    lender = new_lender()
    client.post("/v1/loans", json={"loans": [loan(loan_ref)]}, headers=lender.headers)
    response = client.get(f"/v1/loans/{quote(loan_ref, safe='')}", headers=lender.headers)
    assert response.status_code == 200
    assert response.get_json()["loan_ref"] == loan_ref


def test_compressed_bodies_are_refused_not_misread(client, new_lender):
    response = client.post(
        "/v1/loans",
        json={"loans": [loan()]},
        headers={**new_lender().headers, "Content-Encoding": "gzip"},
    )
    assert response.status_code == 415


def test_options_is_a_405_problem(client):
    response = client.options("/v1/loans")
    assert response.status_code == 405
    assert response.content_type == "application/problem+json"
    assert "POST" in response.headers["Allow"]


def test_validation_messages_read_as_sentences_not_regexes(client, new_lender):
    bad = {**loan("X", currency="yen"), "borrower": "ABC"}
    body = client.post("/v1/loans", json={"loans": [bad]}, headers=new_lender().headers).get_json()
    messages = {e["field"]: e["message"] for e in body["rejected"][0]["errors"]}
    assert messages["loans[0].borrower"] == "must be a borrower token: 64 lower-case hex characters"
    assert "ISO 4217" in messages["loans[0].currency"]
    assert not any("pattern" in m or "^" in m for m in messages.values())
