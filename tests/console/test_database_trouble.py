"""A console page during a database outage, a read-only file or a full disk: an HTML page that
says so, with the API's status (503 with Retry-After, or 507), never an internal error."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy.exc import OperationalError

from registry.services import dashboard


def _sqlite_error(name: str) -> OperationalError:
    original = sqlite3.OperationalError("the database could not be written")
    original.sqlite_errorname = name
    return OperationalError("SELECT 1", {}, original)


@pytest.mark.parametrize(
    ("name", "status", "words"),
    [
        ("SQLITE_READONLY", 503, "read-only"),
        ("SQLITE_FULL", 507, "disk is full"),
        ("SQLITE_BUSY", 503, "try again"),
    ],
)
def test_a_database_in_trouble_gives_a_page_that_says_so(
    console_as, monkeypatch, name, status, words
):
    client = console_as("admin")

    def fail(*args: object, **kwargs: object) -> None:
        raise _sqlite_error(name)

    monkeypatch.setattr(dashboard, "overview", fail)
    response = client.get("/console/")
    assert response.status_code == status
    assert response.mimetype == "text/html"
    assert words in response.get_data(as_text=True)
    assert ("Retry-After" in response.headers) == (status == 503)


def test_any_other_database_error_is_still_an_internal_error(console_as, monkeypatch):
    client = console_as("admin")
    original = sqlite3.IntegrityError("constraint failed")

    def fail(*args: object, **kwargs: object) -> None:
        raise OperationalError("SELECT 1", {}, original) from None

    monkeypatch.setattr(dashboard, "overview", fail)
    response = client.get("/console/")
    assert response.status_code == 500
    assert "internal error" in response.get_data(as_text=True)
