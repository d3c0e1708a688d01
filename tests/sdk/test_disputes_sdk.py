"""Disputes through the SDK and the `lender-client disputes` commands, against the real
registry over HTTP (SQLite and PostgreSQL): a lender relays a dispute of a tradeline of its
report, the owning lender lists and answers it, and a second answer is refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner, Result

from lender_client import RegistryClient
from lender_client.cli import cli
from lender_client.disputes import Dispute, DisputeResolution, DisputeStatus, OpenedDispute
from lender_client.errors import ConflictError, NotFoundError, ValidationError
from tests.helpers import token

pytestmark = pytest.mark.live

BORROWER = token("sdk-disputes")
NOW = datetime.now(UTC)


def _record(ref: str) -> dict[str, Any]:
    return {
        "loan_ref": ref,
        "borrower": BORROWER,
        "product": "cash_loan",
        "currency": "CNY",
        "principal": 1_000_000,
        "outstanding": 800_000,
        "opened_on": (NOW.date() - timedelta(days=60)).isoformat(),
        "due_on": (NOW.date() + timedelta(days=300)).isoformat(),
        "status": "open",
        "days_past_due": 0,
        "as_of": (NOW - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def _client(url: str, key: str) -> RegistryClient:
    return RegistryClient(url, key, token_cache="none", max_retries=0)


def _run(url: str, key: str, *args: str) -> Result:
    runner = CliRunner(env={"REGISTRY_URL": url, "REGISTRY_API_KEY": key})
    return runner.invoke(cli, list(args), catch_exceptions=False)


def test_a_dispute_through_the_sdk_and_the_command(live_server: Any, new_lender: Any) -> None:
    owner, asker, other = new_lender("owner"), new_lender("asker"), new_lender("other")
    url = live_server.url
    with _client(url, owner.api_key) as client:
        result = client.submit_batch([_record("SDK-1")])
        assert result.accepted == 1
    with _client(url, asker.api_key) as client:
        report = client.inquire(BORROWER, consent_ref="APP-9")
        assert [t.lender for t in report.tradelines] == ["A"]
        opened = client.open_dispute(report.inquiry_id, "A", "never borrowed from them")
        assert isinstance(opened, OpenedDispute)
        assert opened.status == DisputeStatus.OPEN and opened.tradeline == "A"
        assert opened.due_at - opened.opened_at == timedelta(days=20)
        assert "loan_ref" not in opened.raw
        # The same dispute again is the open one.
        assert client.open_dispute(report.inquiry_id, "A", "never borrowed from them").id == (
            opened.id
        )
        with pytest.raises(ValidationError) as refused:
            client.open_dispute(report.inquiry_id, "Q", "no such tradeline")
        assert "tradeline" in {e.field for e in refused.value.field_errors}
        # Reports mark the disputed record from now on.
        marked = client.inquire(BORROWER, consent_ref="APP-9")
        assert [t.disputed for t in marked.tradelines] == [True]
        assert marked.summary.disputed_tradelines == 1 and marked.statement is None

    with _client(url, owner.api_key) as client:
        [mine] = client.list_disputes(status="open")
        assert isinstance(mine, Dispute)
        assert (mine.id, mine.loan_ref, mine.borrower) == (opened.id, "SDK-1", BORROWER)
        assert mine.opened_via == "lender" and not mine.overdue
        assert client.list_disputes(status="overdue") == []
        with pytest.raises(ValueError, match="status"):
            client.list_disputes(status="closed")
    with _client(url, other.api_key) as client:
        assert client.list_disputes() == []
        with pytest.raises(NotFoundError):
            client.answer_dispute(opened.id, "confirmed")

    # The command lists it, then answers it.
    listed = _run(url, owner.api_key, "disputes", "list", "--status", "open")
    assert listed.exit_code == 0, listed.output
    assert opened.id in listed.output and "SDK-1" in listed.output
    as_json = _run(url, owner.api_key, "disputes", "list", "--json")
    assert json.loads(as_json.output.splitlines()[0])["id"] == opened.id
    answered = _run(
        url, owner.api_key, "disputes", "answer", opened.id, "confirmed", "--note", "contract"
    )
    assert answered.exit_code == 0, answered.output
    assert "confirmed" in answered.output
    again = _run(url, owner.api_key, "disputes", "answer", opened.id, "confirmed")
    assert again.exit_code == 3, again.output

    with _client(url, owner.api_key) as client:
        [done] = client.list_disputes(status="answered")
        assert done.resolution == DisputeResolution.CONFIRMED and done.note == "contract"
        with pytest.raises(ConflictError):
            client.answer_dispute(opened.id, "confirmed", note="contract")
    with _client(url, asker.api_key) as client:
        seen = client.get_dispute(opened.id)
        assert isinstance(seen, OpenedDispute) and seen.resolution == "confirmed"


def test_the_open_command_prints_the_deadline(live_server: Any, new_lender: Any) -> None:
    owner, asker = new_lender("owner"), new_lender("asker")
    url = live_server.url
    with _client(url, owner.api_key) as client:
        client.submit_batch([_record("SDK-2")])
    with _client(url, asker.api_key) as client:
        report = client.inquire(BORROWER, consent_ref="APP-10")
    opened = _run(
        url, asker.api_key, "disputes", "open", report.inquiry_id, "A", "--reason", "wrong amount"
    )
    assert opened.exit_code == 0, opened.output
    assert "Answer due by" in opened.output
    refused = _run(
        url, asker.api_key, "disputes", "open", "no-such-inquiry", "A", "--reason", "wrong"
    )
    assert refused.exit_code == 3 and "inquiry_id" in refused.output
    with _client(url, owner.api_key) as client:
        [item] = client.list_disputes()
        assert item.loan_ref == "SDK-2" and item.reason == "wrong amount"


def test_the_commands_help_names_them() -> None:
    result = CliRunner().invoke(cli, ["disputes", "--help"])
    assert result.exit_code == 0
    for command in ("open", "list", "answer"):
        assert command in result.output
    answer = CliRunner().invoke(cli, ["disputes", "answer", "--help"])
    assert "confirmed" in answer.output and "--note" in answer.output
