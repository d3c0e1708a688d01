"""Every field of a loan report is checked, and a bad value is named by its JSON path."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.helpers import NOW, iso, loan


def rejected_fields(client: Any, lender: Any, record: Any) -> list[str]:
    response = client.post(
        "/v1/loans", json={"loans": [loan("OK"), record]}, headers=lender.headers
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["accepted"] + body["unchanged"] == 2 - len(body["rejected"])
    if not body["rejected"]:
        return []
    (rejection,) = body["rejected"]
    assert rejection["index"] == 1
    return [error["field"] for error in rejection["errors"]]


BAD_VALUES = [
    ("loan_ref", ""),
    ("loan_ref", "x" * 65),
    ("loan_ref", 17),
    ("loan_ref", None),
    ("borrower", "ab" * 31),
    ("borrower", "AB" * 32),
    ("borrower", "zz" * 32),
    ("borrower", 1),
    ("product", "payday"),
    ("product", ""),
    ("product", 3),
    ("currency", "cny"),
    ("currency", "CN"),
    ("currency", "CNYY"),
    ("currency", 156),
    ("principal", -1),
    ("principal", 1.5),
    ("principal", "100"),
    ("principal", True),
    ("principal", 2**63),
    ("principal", 10**15 + 1),
    ("outstanding", 2**63 - 1),
    ("outstanding", -5),
    ("outstanding", 10.0),
    ("outstanding", None),
    ("opened_on", "2026-02-30"),
    ("opened_on", "26-01-01"),
    ("opened_on", "2026-01-01T00:00:00Z"),
    ("opened_on", 20260101),
    ("due_on", "2026-13-01"),
    ("due_on", 5),
    ("status", "active"),
    ("status", "OPEN"),
    ("days_past_due", -1),
    ("days_past_due", 1.0),
    ("days_past_due", "3"),
    ("as_of", "2026-11-25T12:00:00"),
    ("as_of", "yesterday"),
    ("as_of", 1764072000),
]


@pytest.mark.parametrize("field, value", BAD_VALUES)
def test_bad_value_is_rejected_with_its_path(client, new_lender, field, value):
    record = loan("BAD")
    if value is None:
        del record[field]  # missing
    else:
        record[field] = value
    assert rejected_fields(client, new_lender(), record) == [f"loans[1].{field}"]


def test_unknown_field_is_rejected_on_its_own(client, new_lender):
    assert rejected_fields(client, new_lender(), loan("BAD", colour="red")) == ["loans[1].colour"]


def test_several_errors_are_all_reported(client, new_lender):
    fields = rejected_fields(client, new_lender(), loan("BAD", principal=-1, currency="x", extra=1))
    assert sorted(fields) == ["loans[1].currency", "loans[1].extra", "loans[1].principal"]


def test_due_on_is_required_except_for_credit_lines(client, new_lender):
    lender = new_lender()
    assert rejected_fields(client, lender, loan("BAD", due_on=None)) == ["loans[1].due_on"]
    assert rejected_fields(client, lender, loan("CL", product="credit_line", due_on=None)) == []


def test_explicit_null_due_on_is_allowed_for_credit_lines(client, new_lender):
    record = loan("CL", product="credit_line")
    record["due_on"] = None
    assert rejected_fields(client, new_lender(), record) == []


def test_due_on_may_not_precede_opened_on(client, new_lender):
    lender = new_lender()
    bad = loan("BAD", opened_on="2026-05-02", due_on="2026-05-01")
    assert rejected_fields(client, lender, bad) == ["loans[1].due_on"]
    same_day = loan("SAME", opened_on="2026-05-01", due_on="2026-05-01")
    assert rejected_fields(client, lender, same_day) == []


@pytest.mark.parametrize(
    "status, days, ok",
    [
        ("open", 45, True),
        ("written_off", 200, True),
        ("closed", 0, True),
        ("closed", 1, False),
    ],
)
def test_days_past_due_only_on_open_or_written_off_loans(client, new_lender, status, days, ok):
    record = loan("X", status=status, days_past_due=days)
    assert rejected_fields(client, new_lender(), record) == (
        [] if ok else ["loans[1].days_past_due"]
    )


@pytest.mark.parametrize(
    "ahead, ok",
    [
        (timedelta(minutes=5), True),
        (timedelta(minutes=5, microseconds=1), False),
        (timedelta(days=1), False),
        (-timedelta(days=400), True),
    ],
)
def test_as_of_at_most_five_minutes_ahead(client, new_lender, ahead, ok):
    record = loan("X", opened_on="2025-01-01", as_of=iso(NOW + ahead))
    assert rejected_fields(client, new_lender(), record) == ([] if ok else ["loans[1].as_of"])


def test_as_of_with_an_offset_is_stored_in_utc(client, new_lender):
    lender = new_lender()
    client.post(
        "/v1/loans",
        json={"loans": [loan("TZ", as_of="2026-11-25T19:30:00+08:00")]},
        headers=lender.headers,
    )
    assert (
        client.get("/v1/loans/TZ", headers=lender.headers).get_json()["as_of"]
        == "2026-11-25T11:30:00Z"
    )


@pytest.mark.parametrize(
    "opened_on, ok",
    [
        ("2026-11-26", True),
        ("2026-11-27", False),
        ("2099-01-01", False),
    ],
)
def test_opened_on_at_most_a_day_after_the_as_of_date(client, new_lender, opened_on, ok):
    record = loan("X", opened_on=opened_on, due_on="2099-12-31", as_of="2026-11-25T11:00:00Z")
    assert rejected_fields(client, new_lender(), record) == ([] if ok else ["loans[1].opened_on"])


def test_a_record_that_is_not_an_object(client, new_lender):
    assert rejected_fields(client, new_lender(), ["not", "an", "object"]) == ["loans[1]"]


@pytest.mark.parametrize(
    "body, field",
    [
        ([loan()], "(body)"),
        ("loans", "(body)"),
        ({}, "loans"),
        ({"loans": {}}, "loans"),
        ({"loans": "x"}, "loans"),
        ({"loans": []}, "loans"),
        ({"loans": [loan()], "extra": 1}, "extra"),
    ],
)
def test_request_level_errors_are_one_422_problem(client, new_lender, body, field):
    response = client.post("/v1/loans", json=body, headers=new_lender().headers)
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    problem = response.get_json()
    assert problem["type"] == "/problems/validation" and problem["status"] == 422
    assert field in [e["field"] for e in problem["errors"]]


def test_batch_size_limits(client, new_lender):
    lender = new_lender()
    too_many = [loan(f"L{i}", borrower=i) for i in range(5001)]
    response = client.post("/v1/loans", json={"loans": too_many}, headers=lender.headers)
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"] == "loans"
    response = client.post("/v1/loans", json={"loans": too_many[:5000]}, headers=lender.headers)
    assert response.status_code == 200 and response.get_json()["accepted"] == 5000


def test_malformed_json_is_a_400_problem(client, new_lender):
    response = client.post(
        "/v1/loans", data="{not json", content_type="application/json", headers=new_lender().headers
    )
    assert response.status_code == 400
    assert response.get_json()["type"] == "/problems/malformed-request"


def test_deeply_nested_json_is_a_400_problem_not_a_crash(client, new_lender):
    response = client.post(
        "/v1/loans",
        data="[" * 100_000 + "]" * 100_000,
        content_type="application/json",
        headers=new_lender().headers,
    )
    assert response.status_code == 400


@pytest.mark.parametrize("currency", ["CNY", "USD", "JPY", "KWD", "HKD", "EUR"])
def test_currencies_in_use_are_accepted(client, new_lender, currency):
    assert rejected_fields(client, new_lender(), loan("CUR", currency=currency)) == []


def test_wrong_content_type_is_a_415_problem(client, new_lender):
    response = client.post(
        "/v1/loans", data="loans=1", content_type="text/plain", headers=new_lender().headers
    )
    assert response.status_code == 415
    assert response.content_type == "application/problem+json"


def test_oversize_body_is_a_413_problem(client, new_lender):
    lender = new_lender()
    limit = client.application.config["MAX_CONTENT_LENGTH"]
    response = client.post(
        "/v1/loans",
        data=b"[" + b" " * limit + b"]",
        content_type="application/json",
        headers=lender.headers,
    )
    assert response.status_code == 413
    assert response.get_json()["type"] == "/problems/payload-too-large"


# Tradeline fields (issue 9): each rule names its field. `loan()` fills what a test does not
# set (closed_on for closed and written-off loans, amount_past_due when days are past due).
RULES = [
    # credit_limit: required for revolving products, the principal otherwise.
    ({"product": "credit_line", "due_on": None, "credit_limit": None}, "credit_limit"),
    ({"product": "credit_line", "due_on": None, "credit_limit": 5_000_000}, None),
    ({"credit_limit": None}, None),
    ({"credit_limit": -1}, "credit_limit"),
    ({"credit_limit": "100"}, "credit_limit"),
    # scheduled_payment and payment_frequency go together.
    ({"scheduled_payment": 10_000}, "payment_frequency"),
    ({"payment_frequency": "monthly"}, "scheduled_payment"),
    ({"scheduled_payment": 10_000, "payment_frequency": "fortnightly"}, "payment_frequency"),
    ({"scheduled_payment": 10_000, "payment_frequency": "biweekly"}, None),
    ({"scheduled_payment": -3, "payment_frequency": "weekly"}, "scheduled_payment"),
    # amount_past_due: required when days are past due, zero otherwise, within outstanding.
    ({"days_past_due": 10, "amount_past_due": None}, "amount_past_due"),
    ({"days_past_due": 10, "amount_past_due": 0}, "amount_past_due"),
    ({"days_past_due": 0, "amount_past_due": 5}, "amount_past_due"),
    ({"days_past_due": 0, "amount_past_due": 0}, None),
    ({"days_past_due": 10, "amount_past_due": 800_001}, "amount_past_due"),
    ({"days_past_due": 10, "amount_past_due": 800_000}, None),
    ({"amount_past_due": 1.5}, "amount_past_due"),
    # closed_on: required for closed and written_off, within opened_on and as_of.
    ({"status": "closed", "closed_on": None}, "closed_on"),
    ({"status": "written_off", "days_past_due": 200, "closed_on": None}, "closed_on"),
    ({"status": "closed", "closed_on": "2026-08-31"}, "closed_on"),  # before opened_on
    ({"status": "closed", "closed_on": "2026-09-01"}, None),
    ({"status": "closed", "closed_on": "2026-11-25"}, None),  # the as_of date
    ({"status": "closed", "closed_on": "2026-11-26"}, "closed_on"),  # after as_of
    ({"status": "closed", "closed_on": "2026-11-31"}, "closed_on"),
    ({"closed_on": "2026-10-01"}, "closed_on"),  # an open loan is not closed
    # A closed loan has nothing outstanding or past due.
    ({"status": "closed", "outstanding": 1}, "outstanding"),
    ({"status": "closed", "amount_past_due": 1, "outstanding": 1}, "outstanding"),
    ({"status": "closed", "amount_past_due": 1}, "amount_past_due"),
    # A written-off loan keeps the balance written off.
    ({"status": "written_off", "outstanding": 0}, "outstanding"),
    ({"status": "written_off", "outstanding": 400_000}, None),
    # special_event and correction.
    ({"special_event": "extended"}, None),
    ({"special_event": "forgiven"}, "special_event"),
    ({"correction": "yes"}, "correction"),
]


@pytest.mark.parametrize("fields, failing", RULES)
def test_tradeline_rules_name_their_field(client, new_lender, fields, failing):
    record = loan("BAD", **fields)
    expected = [f"loans[1].{failing}"] if failing else []
    assert rejected_fields(client, new_lender(), record)[:1] == expected


def test_an_instalment_loans_limit_is_its_principal(client, new_lender):
    lender = new_lender()
    post = client.post("/v1/loans", json={"loans": [loan()]}, headers=lender.headers)
    assert post.get_json()["accepted"] == 1
    stored = client.get("/v1/loans/L-1", headers=lender.headers).get_json()
    assert stored["credit_limit"] == stored["principal"] == 1_000_000
    assert stored["amount_past_due"] == 0
    assert stored["scheduled_payment"] is None and stored["payment_frequency"] is None
    assert stored["closed_on"] is None and stored["special_event"] is None
    assert stored["written_off_amount"] is None and stored["written_off_on"] is None


def test_every_new_field_reads_back(client, new_lender):
    lender = new_lender()
    record = loan(
        "LINE",
        product="credit_line",
        due_on=None,
        credit_limit=5_000_000,
        outstanding=1_200_000,
        scheduled_payment=120_000,
        payment_frequency="monthly",
        days_past_due=12,
        amount_past_due=120_000,
        special_event="restructured",
    )
    body = client.post("/v1/loans", json={"loans": [record]}, headers=lender.headers).get_json()
    assert body["accepted"] == 1 and body["warnings"] == []
    stored = client.get("/v1/loans/LINE", headers=lender.headers).get_json()
    assert {k: stored[k] for k in record} == record
    listed = client.get("/v1/loans", headers=lender.headers).get_json()["data"][0]
    assert listed == stored


@pytest.mark.parametrize(
    "fields, warned",
    [
        ({"due_on": "2026-11-19"}, True),  # six days past due_on, none past due
        ({"due_on": "2026-11-20"}, False),  # five days: within the grace period
        ({"due_on": "2026-11-19", "special_event": "extended"}, False),
        ({"due_on": "2026-11-19", "special_event": "restructured"}, True),
        ({"due_on": "2026-11-19", "days_past_due": 6}, False),
        ({"due_on": "2026-11-19", "status": "closed"}, False),
    ],
)
def test_an_open_loan_past_its_due_date_with_nothing_past_due_is_a_warning(
    client, new_lender, fields, warned
):
    lender = new_lender()
    record = loan("W-1", opened_on="2026-05-01", **fields)
    body = client.post(
        "/v1/loans", json={"loans": [loan("OK"), record]}, headers=lender.headers
    ).get_json()
    assert body["accepted"] == 2 and body["rejected"] == []
    if warned:
        (warning,) = body["warnings"]
        assert warning["index"] == 1 and warning["loan_ref"] == "W-1"
        assert warning["field"] == "loans[1].days_past_due"
        assert "due_on" in warning["message"]
    else:
        assert body["warnings"] == []


def test_a_warned_record_rejected_later_carries_no_warning(client, new_lender):
    lender = new_lender()
    first = loan("W-1", opened_on="2026-05-01", due_on="2026-11-19")
    client.post("/v1/loans", json={"loans": [first]}, headers=lender.headers)
    # Same as_of, other content: rejected, so its warning is not answered.
    again = {**first, "outstanding": 1}
    body = client.post("/v1/loans", json={"loans": [again]}, headers=lender.headers).get_json()
    assert len(body["rejected"]) == 1 and body["warnings"] == []
