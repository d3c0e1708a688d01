"""`lender-client inquire` against a scripted registry: --amount and --currency go together,
and the requested amount shown (table and --json) is the report's own."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner, Result

from lender_client.cli import cli
from tests.sdk.scripted import API_KEY, TOKEN, Reply, ScriptedServer, inquiry_body


def inquire(server: ScriptedServer, *options: str) -> Result:
    return CliRunner().invoke(
        cli,
        [
            *("--url", server.url, "--api-key", API_KEY),
            *("inquire", TOKEN, "--consent-ref", "C-1", *options),
        ],
    )


@pytest.mark.parametrize(
    "options", [("--amount", "500000"), ("--currency", "CNY"), ("--currency", "CNY", "--json")]
)
def test_amount_and_currency_go_together(server: ScriptedServer, options: tuple[str, ...]) -> None:
    result = inquire(server, *options)
    assert result.exit_code == 2, result.output
    assert "Usage:" in result.stderr  # a click usage error
    assert "--amount" in result.stderr and "--currency" in result.stderr
    assert server.seen == []  # nothing was sent


def report_with(**extra: Any) -> dict[str, Any]:
    body = inquiry_body()
    body.update(extra)
    return body


def test_json_carries_the_requested_amount_as_the_registry_sent_it(
    server: ScriptedServer,
) -> None:
    body = report_with(requested={"amount": 500_000, "currency": "CNY"})
    server.script(Reply(200, body))
    result = inquire(server, "--amount", "500000", "--currency", "cny", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == body
    assert server.seen[0].json()["amount_requested"] == 500_000
    assert server.seen[0].json()["currency"] == "CNY"

    body = report_with(requested=None)
    server.script(Reply(200, body))
    result = inquire(server, "--json")
    assert json.loads(result.stdout) == body and json.loads(result.stdout)["requested"] is None


def test_json_invents_nothing_for_an_older_registry(server: ScriptedServer) -> None:
    body = inquiry_body()
    assert "requested" not in body
    server.script(Reply(200, body))
    result = inquire(server, "--amount", "500000", "--currency", "CNY", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == body


def test_the_table_shows_the_reports_requested_amount(server: ScriptedServer) -> None:
    # What the registry recorded is what is shown (here it differs from what was asked, to
    # tell the two apart).
    server.script(Reply(200, report_with(requested={"amount": 123_456, "currency": "JPY"})))
    result = inquire(server, "--amount", "500000", "--currency", "CNY")
    assert result.exit_code == 0, result.output
    assert "Requested 123,456 JPY" in result.stdout
    assert "5,000.00" not in result.stdout

    server.script(Reply(200, report_with(requested=None)))
    result = inquire(server)
    assert result.exit_code == 0 and "Requested" not in result.stdout


def test_the_table_falls_back_to_the_options_for_an_older_registry(
    server: ScriptedServer,
) -> None:
    server.script(Reply(200, inquiry_body()))
    result = inquire(server, "--amount", "500000", "--currency", "CNY")
    assert result.exit_code == 0, result.output
    assert "Requested 5,000.00 CNY" in result.stdout
