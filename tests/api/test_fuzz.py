"""Schema-driven fuzzing: schemathesis generates requests from /openapi.json and every
answer must be documented (status, content type, body schema), never a 500."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from registry.api.openapi import openapi_document

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def api_schema(app, new_lender, token_key):
    lender = new_lender()
    schema = schemathesis.openapi.from_dict(openapi_document())
    schema.app = app  # calls go in-process through the WSGI app
    app.config["FUZZ_HEADERS"] = lender.headers
    return schema


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_api_conforms_to_its_schema(case, app):
    response = case.call(app=app, headers=app.config["FUZZ_HEADERS"])
    case.validate_response(response, checks=CHECKS)
