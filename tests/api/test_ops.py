"""Health, readiness, metrics, request ids, problem bodies and the OpenAPI document."""

from __future__ import annotations

import re
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs in the lock
import pytest
from flask import Flask

from registry import create_app
from registry.api.openapi import openapi_document
from tests.helpers import loan, token


def test_healthz_needs_no_database(tmp_path):
    app = create_app({"database_url": f"sqlite:///{tmp_path}/missing/never.db"})
    assert app.test_client().get("/healthz").get_json() == {"status": "ok"}


def test_readyz_reports_the_database(client):
    response = client.get("/readyz")
    assert response.status_code == 200 and response.get_json()["database"] == "ok"


def test_readyz_is_503_when_the_database_is_unreachable():
    app = create_app({"database_url": "postgresql://nobody@127.0.0.1:1/none"})
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.content_type == "application/problem+json"


def test_every_response_carries_a_request_id(client):
    first, second = client.get("/healthz"), client.get("/healthz")
    assert len(first.headers["X-Request-ID"]) >= 16
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]


def test_a_sane_incoming_request_id_is_kept(client):
    response = client.get("/v1/loans", headers={"X-Request-ID": "trace-1234567890"})
    assert response.headers["X-Request-ID"] == "trace-1234567890"
    assert response.get_json()["request_id"] == "trace-1234567890"
    hostile = client.get("/healthz", headers={"X-Request-ID": "<script>alert(1)</script>"})
    assert "<" not in hostile.headers["X-Request-ID"]


@pytest.mark.parametrize(
    "method, path",
    [
        ("get", "/nowhere"),
        ("delete", "/v1/loans"),
        ("put", "/v1/inquiries"),
    ],
)
def test_unknown_routes_and_methods_are_problems_not_html(client, method, path):
    response = getattr(client, method)(path)
    assert response.status_code in (404, 405)
    assert response.content_type == "application/problem+json"
    body = response.get_json()
    assert set(body) >= {"type", "title", "status", "detail", "request_id"}
    assert body["request_id"] == response.headers["X-Request-ID"]


def test_an_unexpected_error_is_a_500_problem_without_a_trace(database_url):
    app = create_app({"database_url": database_url})

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("secret internals")

    response = app.test_client().get("/boom")
    assert response.status_code == 500
    assert response.content_type == "application/problem+json"
    assert "secret internals" not in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)


def test_metrics_count_requests_records_inquiries_and_flags(client, new_lender):

    from prometheus_client import REGISTRY

    def value(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    watched = {
        "accepted": ("registry_loan_records_total", {"outcome": "accepted"}),
        "unchanged": ("registry_loan_records_total", {"outcome": "unchanged"}),
        "stale": ("registry_loan_records_total", {"outcome": "stale"}),
        "rejected": ("registry_loan_records_total", {"outcome": "rejected"}),
        "new_credit": ("registry_inquiries_total", {"purpose": "new_credit"}),
        "review": ("registry_inquiries_total", {"purpose": "account_review"}),
        "multi": ("registry_flags_raised_total", {"code": "MULTI_LENDER"}),
        "posts": (
            "registry_http_requests_total",
            {"method": "POST", "route": "/v1/loans", "status": "200"},
        ),
        "timed": (
            "registry_http_request_duration_seconds_count",
            {"method": "POST", "route": "/v1/loans"},
        ),
    }
    before = {k: value(name, **labels) for k, (name, labels) in watched.items()}

    lenders = [new_lender(f"l{i}") for i in range(3)]
    for i, lender in enumerate(lenders):
        records = [loan(f"M{i}", "metrics-borrower"), loan("BAD", currency="x")]
        client.post("/v1/loans", json={"loans": records}, headers=lender.headers)
    old = loan("M0", "metrics-borrower", as_of="2026-11-24T00:00:00Z")
    client.post(
        "/v1/loans",
        json={"loans": [loan("M0", "metrics-borrower"), old]},
        headers=lenders[0].headers,
    )  # one unchanged, one stale
    body = {"borrower": token("metrics-borrower"), "consent_ref": "c"}
    client.post("/v1/inquiries", headers=lenders[0].headers, json={**body, "purpose": "new_credit"})
    client.post(
        "/v1/inquiries", headers=lenders[1].headers, json={**body, "purpose": "account_review"}
    )

    delta = {k: value(name, **labels) - before[k] for k, (name, labels) in watched.items()}
    assert delta == {
        "accepted": 3,
        "unchanged": 1,
        "stale": 1,
        "rejected": 3,
        "new_credit": 1,
        "review": 1,
        "multi": 2,
        "posts": 4,
        "timed": 4,
    }
    text = client.get("/metrics").get_data(as_text=True)
    assert "registry_http_request_duration_seconds_bucket{" in text


def test_openapi_documents_every_v1_route(app: Flask):
    document = app.test_client().get("/openapi.json").get_json()
    assert document["openapi"].startswith("3.1")
    documented = {
        (path, method.upper()) for path, item in document["paths"].items() for method in item
    }
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/v1/"):
            # Flask's <name> and <converter:name> are OpenAPI's {name}.
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
            served |= {(path, m) for m in (rule.methods or set()) - {"HEAD", "OPTIONS"}}
    assert documented == served


def _validator(schema_name: str) -> jsonschema.Draft202012Validator:
    document = openapi_document()
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": document["components"]}
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def test_openapi_request_schemas_agree_with_validation():
    batch = _validator("LoanBatch")
    assert batch.is_valid({"loans": [loan()]})
    assert batch.is_valid({"loans": [loan(product="credit_line", due_on=None)]})
    bad: dict[str, Any]
    for bad in (
        {"loans": []},
        {"loans": [loan(currency="cny")]},
        {"loans": [loan(extra=1)]},
        {"loans": [loan(principal=-1)]},
        {"loans": [loan()], "more": 1},
    ):
        assert not batch.is_valid(bad)
    inquiry = _validator("InquiryBody")
    assert inquiry.is_valid({"borrower": token(1), "purpose": "account_review"})
    assert not inquiry.is_valid({"borrower": token(1), "purpose": "other"})


def test_openapi_response_schemas_match_real_responses(client, new_lender):
    lender = new_lender()
    submitted = client.post(
        "/v1/loans", json={"loans": [loan(), loan("X", currency="x")]}, headers=lender.headers
    ).get_json()
    _validator("SubmissionOut").validate(submitted)
    _validator("LoanOut").validate(client.get("/v1/loans/L-1", headers=lender.headers).get_json())
    _validator("LoanPage").validate(client.get("/v1/loans", headers=lender.headers).get_json())
    for requested in ({}, {"amount_requested": 100_000, "currency": "CNY"}):
        report = client.post(
            "/v1/inquiries",
            headers=lender.headers,
            json={"borrower": token(1), "purpose": "new_credit", "consent_ref": "c", **requested},
        ).get_json()
        _validator("InquiryReportOut").validate(report)
    problem = client.get("/v1/loans/nope", headers=lender.headers).get_json()
    _validator("ProblemOut").validate(problem)


def test_the_report_schema_always_names_what_was_requested():
    schema = openapi_document()["components"]["schemas"]
    assert "requested" in schema["InquiryReportOut"]["required"]
    assert schema["RequestedOut"]["required"] == ["amount", "currency"]
