"""Hostile input to the console: control characters, dates at the edge of the calendar, a
CSRF token that is not ASCII. Each gets a 4xx page with the console's headers, never a 500,
on SQLite and on PostgreSQL (which refuses a NUL in text)."""

from __future__ import annotations

import pytest

from tests.console.helpers import post, sign_in


@pytest.mark.parametrize(
    "path",
    [
        "/console/inquiries?lender=%00",
        "/console/audit?actor=a%00b",
        "/console/audit?target=%01",
        "/console/lenders/a%00",
        "/console/borrowers?token=%00",
        "/console/inquiries?until=9999-12-31",
        "/console/audit?until=9999-12-31",
        "/console/inquiries.csv?until=9999-12-31",
        "/console/inquiries?since=0001-01-01",
    ],
)
def test_bad_queries_get_a_page_not_a_500(console_as, path):
    response = console_as("admin").get(path)
    assert 400 <= response.status_code < 500, (path, response.status_code)
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.mimetype == "text/html"


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/console/lenders/new", {"code": "acme", "name": "Acme\x00Credit"}),
        ("/console/operators/a\x00b/status", {"status": "disabled"}),
        ("/console/policy", {"MULTI_LENDER": "3\x00"}),
    ],
)
def test_bad_forms_get_a_page_not_a_500(console_as, path, data):
    response = post(console_as("admin"), path, data)
    assert 400 <= response.status_code < 500, (path, response.status_code)
    assert "Content-Security-Policy" in response.headers


def test_a_nul_in_the_login_form_is_refused_cleanly(app, make_operator):
    make_operator("alice", "admin")
    response = sign_in(app.test_client(), "ali\x00ce")
    assert response.status_code == 400
    assert "control character" in response.get_data(as_text=True)


def test_a_non_ascii_csrf_token_is_refused_not_a_500(console_as):
    client = console_as("admin")
    response = client.post("/console/logout", data={"csrf_token": "é"})
    assert response.status_code == 400
