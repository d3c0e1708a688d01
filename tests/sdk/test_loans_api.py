"""Reading loans back: references sent intact, pages followed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from lender_client import (
    NotFoundError,
    Product,
    UnexpectedResponseError,
)
from tests.sdk.scripted import (
    AS_OF,
    TOKEN,
    Reply,
    ScriptedServer,
    make_client,
    problem,
    report,
)


def test_get_loan_quotes_the_reference_and_parses(server: ScriptedServer) -> None:
    loan = {
        **report(due_on=None, product="credit_line").to_json(),
        "loan_ref": "a/b c?",
        "first_reported_at": "2026-11-20T10:00:01Z",
        "last_reported_at": "2026-11-21T10:00:01+00:00",
    }
    server.script(Reply(200, loan))
    with make_client(server.url) as client:
        got = client.get_loan("a/b c?")
    assert server.seen[0].path == "/v1/loans/a%2Fb%20c%3F"
    assert got.loan_ref == "a/b c?"
    assert got.product is Product.CREDIT_LINE and got.due_on is None
    assert got.as_of == AS_OF
    assert got.last_reported_at == datetime(2026, 11, 21, 10, 0, 1, tzinfo=UTC)
    assert got.raw == loan
    assert got.to_report().loan_ref == "a/b c?"


@pytest.mark.parametrize(
    ("ref", "path"),
    [
        (".", "/v1/loans/%2E"),
        ("..", "/v1/loans/%2E%2E"),
        ("L-1.5", "/v1/loans/L-1%2E5"),
        ("a/b", "/v1/loans/a%2Fb"),
        ("a?b#c", "/v1/loans/a%3Fb%23c"),
        ("100%", "/v1/loans/100%25"),
        ("%2E", "/v1/loans/%252E"),
        ("贷 1", "/v1/loans/%E8%B4%B7%201"),
    ],
)
def test_get_loan_sends_the_reference_as_one_intact_segment(
    server: ScriptedServer, ref: str, path: str
) -> None:
    server.script(Reply(404, problem(404, "not-found", "Not found", "")))
    with make_client(server.url) as client, pytest.raises(NotFoundError):
        client.get_loan(ref)
    assert [s.path for s in server.seen] == [path]


def test_get_loan_keeps_the_base_path_prefix(server: ScriptedServer) -> None:
    server.script(Reply(404, problem(404, "not-found", "Not found", "")))
    with make_client(server.url + "/reg/", max_retries=0) as client, pytest.raises(NotFoundError):
        client.get_loan("..")
    assert server.seen[0].path == "/reg/v1/loans/%2E%2E"


def test_text_that_is_not_unicode_is_refused_before_sending(server: ScriptedServer) -> None:
    with make_client(server.url) as client:
        with pytest.raises(ValueError, match="surrogate"):
            client.get_loan("L-\udcff")
        with pytest.raises(ValueError, match=r"unpaired surrogate '\\ud800'"):
            client.inquire(TOKEN, consent_ref="\ud800")
    assert server.seen == []


def test_iter_loans_follows_cursors(server: ScriptedServer) -> None:
    def loan(ref: str) -> dict[str, Any]:
        return {**report(loan_ref=ref).to_json(), "first_reported_at": None}

    server.script(
        Reply(200, {"data": [loan("a"), loan("b")], "next_cursor": "c1"}),
        Reply(200, {"data": [loan("c")], "next_cursor": "c2"}),
        Reply(200, {"data": [], "next_cursor": None}),
    )
    with make_client(server.url) as client:
        refs = [item.loan_ref for item in client.iter_loans(status="open", page_size=2)]
    assert refs == ["a", "b", "c"]
    paths = [s.path for s in server.seen]
    assert paths[0] == "/v1/loans?limit=2&status=open"
    assert paths[1] == "/v1/loans?limit=2&status=open&cursor=c1"
    assert paths[2].endswith("cursor=c2")


def test_iter_loans_is_lazy_and_detects_cursor_loops(server: ScriptedServer) -> None:
    page = {"data": [], "next_cursor": "same"}
    server.script(Reply(200, page), Reply(200, page))
    with make_client(server.url) as client:
        iterator = client.iter_loans()
        assert server.seen == []
        with pytest.raises(UnexpectedResponseError):
            list(iterator)
