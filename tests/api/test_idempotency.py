"""Idempotency-Key: a retry returns the first answer, a different body conflicts, and
concurrent requests with one key write once."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from registry.models import LoanHistory, Submission
from tests.helpers import loan, token


def count(db_session: Any, model: Any) -> int:
    try:
        return int(db_session.scalar(select(func.count()).select_from(model)))
    finally:
        db_session.rollback()


def post(client: Any, lender: Any, records: list[Any], key: str | None) -> Any:
    headers = {**lender.headers, **({"Idempotency-Key": key} if key is not None else {})}
    return client.post("/v1/loans", json={"loans": records}, headers=headers)


def test_retry_with_the_same_key_returns_the_first_answer(client, new_lender, db_session):
    lender = new_lender()
    first = post(client, lender, [loan("A"), loan("B", currency="x")], "batch-0001")
    again = post(client, lender, [loan("A"), loan("B", currency="x")], "batch-0001")
    assert first.status_code == again.status_code == 200
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert count(db_session, Submission) == 1
    assert count(db_session, LoanHistory) == 1


def test_key_order_and_spacing_do_not_make_a_different_body(client, new_lender):
    lender = new_lender()
    first = post(client, lender, [loan("A")], "k-1").get_json()
    record = dict(reversed(list(loan("A").items())))
    again = client.post(
        "/v1/loans",
        data='{"loans":  [' + __import__("json").dumps(record) + "]}",
        content_type="application/json",
        headers={**lender.headers, "Idempotency-Key": "k-1"},
    )
    assert again.get_json() == first


def test_same_key_with_another_body_is_a_409_problem(client, new_lender, db_session):
    lender = new_lender()
    post(client, lender, [loan("A")], "k-1")
    response = post(client, lender, [loan("A", outstanding=1)], "k-1")
    assert response.status_code == 409
    assert response.content_type == "application/problem+json"
    assert response.get_json()["type"] == "/problems/idempotency-conflict"
    assert count(db_session, Submission) == 1


def test_keys_are_scoped_to_the_lender(client, new_lender, db_session):
    a, b = new_lender(), new_lender()
    first = post(client, a, [loan("A")], "shared-key").get_json()
    second = post(client, b, [loan("A")], "shared-key").get_json()
    assert first["submission_id"] != second["submission_id"]
    assert second["accepted"] == 1
    assert count(db_session, Submission) == 2


def test_without_a_key_every_request_is_applied(client, new_lender, db_session):
    lender = new_lender()
    post(client, lender, [loan("A")], None)
    body = post(client, lender, [loan("A")], None).get_json()
    assert body["unchanged"] == 1
    assert count(db_session, Submission) == 2


@pytest.mark.parametrize("key", ["", "x" * 256, "clé", "tab\there", "bell\x07"])
def test_malformed_key_is_a_400_problem(client, new_lender, key):
    lender = new_lender()
    response = client.post(
        "/v1/loans", json={"loans": [loan()]}, headers={**lender.headers, "Idempotency-Key": key}
    )
    assert response.status_code == 400
    assert response.get_json()["errors"][0]["field"] == "headers.Idempotency-Key"


@pytest.mark.parametrize("key", ["a", "x" * 255, "~!@# $%^&*()_+"])
def test_any_printable_ascii_key_up_to_255_works(client, new_lender, key):
    assert post(client, new_lender(), [loan()], key).status_code == 200


def post_at_once(url: str, body: dict[str, Any], headers: dict[str, str], n: int = 4) -> list[Any]:
    """`n` threads POST the same request at the same moment; their JSON answers."""
    answers: list[Any] = []
    start = threading.Barrier(n)

    def send() -> None:
        start.wait()
        response = requests.post(url, json=body, headers=headers, timeout=60)
        assert response.status_code == 200
        answers.append(response.json())

    threads = [threading.Thread(target=send) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == n
    return answers


def test_concurrent_requests_with_one_key_write_once(live_server, new_lender, db_session):
    lender = new_lender()
    records = [loan(f"C-{i}", borrower=i) for i in range(300)]
    headers = {**lender.headers, "Idempotency-Key": "concurrent-1"}
    answers = post_at_once(f"{live_server.url}/v1/loans", {"loans": records}, headers)
    assert all(answer == answers[0] for answer in answers)
    assert answers[0]["accepted"] == 300
    assert count(db_session, Submission) == 1
    assert count(db_session, LoanHistory) == 300


def inquiry(client: Any, lender: Any, key: str | None, **body: Any) -> Any:
    payload = {
        "borrower": loan()["borrower"],
        "purpose": "new_credit",
        "consent_ref": "c-1",
        **body,
    }
    headers = {**lender.headers, **({"Idempotency-Key": key} if key else {})}
    return client.post("/v1/inquiries", json=payload, headers=headers)


def test_inquiry_retry_returns_the_recorded_report_and_records_once(client, new_lender, db_session):
    from registry.models import Inquiry

    lender = new_lender()
    first = inquiry(client, lender, "inq-1")
    again = inquiry(client, lender, "inq-1")
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert count(db_session, Inquiry) == 1
    assert inquiry(client, lender, None).get_json()["inquiry_id"] != first.get_json()["inquiry_id"]
    assert count(db_session, Inquiry) == 2


def test_inquiry_key_with_another_body_is_a_409(client, new_lender):
    lender = new_lender()
    inquiry(client, lender, "inq-1")
    response = inquiry(client, lender, "inq-1", consent_ref="another")
    assert response.status_code == 409
    assert response.get_json()["type"] == "/problems/idempotency-conflict"


def test_inquiry_key_reused_for_another_borrower_is_a_409(client, new_lender, db_session):
    from registry.models import Inquiry

    lender = new_lender()
    inquiry(client, lender, "inq-1")
    response = inquiry(client, lender, "inq-1", borrower=token(2))
    assert response.status_code == 409
    assert count(db_session, Inquiry) == 1


def test_inquiry_keys_are_scoped_to_the_lender(client, new_lender, db_session):
    from registry.models import Inquiry

    a, b = new_lender(), new_lender()
    first = inquiry(client, a, "same").get_json()
    second = inquiry(client, b, "same").get_json()
    assert first["inquiry_id"] != second["inquiry_id"]
    assert second["summary"]["other_lenders_inquiring"]["1d"] == 1
    assert count(db_session, Inquiry) == 2


def test_the_recorded_report_is_kept_with_the_inquiry(client, new_lender, db_session):
    from registry.models import Inquiry

    report = inquiry(client, new_lender(), None).get_json()
    row = db_session.scalar(select(Inquiry))
    db_session.rollback()
    # All of it but the token, which lives in the row's own column (rotations rewrite it).
    assert row.report == {k: v for k, v in report.items() if k != "borrower"}
    assert row.borrower.hex() == report["borrower"]


def test_concurrent_inquiries_with_one_key_record_once(live_server, new_lender, db_session):
    from registry.models import Inquiry

    lender = new_lender()
    body = {"borrower": loan()["borrower"], "purpose": "new_credit", "consent_ref": "c"}
    headers = {**lender.headers, "Idempotency-Key": "inq-c"}
    answers = post_at_once(f"{live_server.url}/v1/inquiries", body, headers)
    assert all(answer == answers[0] for answer in answers)
    assert count(db_session, Inquiry) == 1
