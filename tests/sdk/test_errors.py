"""Errors: problem documents mapped to exception classes, their messages, pickling."""

from __future__ import annotations

import pytest

from lender_client import (
    APIStatusError,
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RegistryError,
    ServerError,
    ValidationError,
)
from lender_client.errors import FieldError, error_from_response
from tests.sdk.scripted import (
    Reply,
    ScriptedServer,
    make_client,
    problem,
)


@pytest.mark.parametrize(
    ("status", "slug", "cls"),
    [
        (400, "malformed-request", ValidationError),
        (401, "unauthenticated", AuthenticationError),
        (403, "forbidden", PermissionDeniedError),
        (404, "not-found", NotFoundError),
        (409, "idempotency-conflict", ConflictError),
        (413, "payload-too-large", ValidationError),
        (415, "unsupported-media-type", ValidationError),
        (422, "validation", ValidationError),
        (429, "rate-limited", RateLimitError),
        (500, "internal", ServerError),
        (503, "unavailable", ServerError),
        (418, "teapot", APIStatusError),
    ],
)
def test_error_from_response_maps_status_to_class(
    status: int, slug: str, cls: type[RegistryError]
) -> None:
    error = error_from_response(status, problem(status, slug, "Title", "Some detail"))
    assert type(error) is cls
    assert isinstance(error, RegistryError)
    assert error.status == status
    assert error.problem_type == f"/problems/{slug}"
    assert error.request_id == "req-body"
    text = str(error)
    assert str(status) in text and "Title" in text and "Some detail" in text and "req-body" in text


def test_validation_error_field_errors_and_message() -> None:
    body = problem(
        422,
        "validation",
        "Validation failed",
        "2 fields are invalid",
        errors=[
            {"field": "borrower", "message": "must be 64 lowercase hex characters"},
            {"field": "purpose", "message": "must be new_credit or account_review"},
        ],
    )
    error = error_from_response(422, body, request_id="req-header")
    assert isinstance(error, ValidationError)
    assert error.field_errors == [
        ("borrower", "must be 64 lowercase hex characters"),
        ("purpose", "must be new_credit or account_review"),
    ]
    assert error.request_id == "req-header"  # the header wins over the body
    assert "borrower: must be 64 lowercase hex characters" in str(error)
    assert FieldError("loans[3].due_on", "x").record_field == "due_on"


def test_rate_limit_error_and_conflict_in_progress() -> None:
    error = error_from_response(429, problem(429, "rate-limited", "Slow down", ""), retry_after=7)
    assert isinstance(error, RateLimitError) and error.retry_after == 7
    in_progress = error_from_response(
        409, problem(409, "idempotency-in-progress", "In progress", "")
    )
    assert isinstance(in_progress, ConflictError) and in_progress.in_progress


def test_error_without_problem_body_uses_text_or_reason() -> None:
    error = error_from_response(502, None, body_text="<html><h1>Bad   gateway</h1></html>")
    assert isinstance(error, ServerError)
    assert "Bad gateway" in error.message
    assert error_from_response(503, None).message == "Service Unavailable"


def test_errors_pickle_round_trip() -> None:
    import pickle

    error = error_from_response(429, problem(429, "rate-limited", "Slow", "d"), retry_after=3)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is RateLimitError and copy.retry_after == 3 and copy.status == 429


def test_html_error_page_becomes_server_error(server: ScriptedServer) -> None:
    server.script(Reply(502, "<html><body>Bad Gateway from proxy</body></html>"))
    with make_client(server.url, max_retries=0) as client, pytest.raises(ServerError) as info:
        client.get_loan("L-1")
    assert "Bad Gateway from proxy" in str(info.value)
