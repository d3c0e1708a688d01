"""`client.record_outcome` and `lender-client outcome` against the scripted server: the request
sent, the typed answer (201 the first time, 200 for the same outcome again), the errors
(404, 409, 422) as the SDK's exceptions, retries with one idempotency key, and what the
command prints."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from click.testing import CliRunner, Result

from lender_client import (
    ApplicationOutcome,
    ConflictError,
    NotFoundError,
    Outcome,
    UnexpectedResponseError,
    ValidationError,
)
from lender_client.cli import cli
from tests.sdk.scripted import API_KEY, Reply, ScriptedServer, Sleeps, make_client, problem

INQUIRY = "9b2e4c1a-7d3f-4e55-8a0b-2f6d1c9e8a71"
PATH = f"/v1/inquiries/{INQUIRY}/outcome"


def approved(**overrides: Any) -> dict[str, Any]:
    body = {
        "inquiry_id": INQUIRY,
        "outcome": "approved",
        "loan_ref": "L-2026-0042",
        "amount": 300_000,
        "currency": "CNY",
        "inquired_at": "2026-11-28T11:20:00Z",
        "recorded_at": "2026-11-28T11:45:00Z",
        "provisional_until": "2026-12-12T11:45:00Z",
    }
    body.update(overrides)
    return body


def declined() -> dict[str, Any]:
    return approved(
        outcome="declined", loan_ref=None, amount=None, currency=None, provisional_until=None
    )


def test_an_approval_is_sent_and_its_record_typed(server: ScriptedServer) -> None:
    server.script(Reply(201, approved()))
    with make_client(server.url) as client:
        got = client.record_outcome(
            INQUIRY, Outcome.APPROVED, loan_ref="L-2026-0042", amount=300_000, currency="CNY"
        )
    [seen] = server.seen
    assert (seen.method, seen.path) == ("POST", PATH)
    assert seen.json() == {
        "outcome": "approved",
        "loan_ref": "L-2026-0042",
        "amount": 300_000,
        "currency": "CNY",
    }
    assert seen.headers["Idempotency-Key"]
    assert got == ApplicationOutcome(
        inquiry_id=INQUIRY,
        outcome=Outcome.APPROVED,
        loan_ref="L-2026-0042",
        amount=300_000,
        currency="CNY",
        inquired_at=datetime(2026, 11, 28, 11, 20, tzinfo=UTC),
        recorded_at=datetime(2026, 11, 28, 11, 45, tzinfo=UTC),
        provisional_until=datetime(2026, 12, 12, 11, 45, tzinfo=UTC),
    )
    assert got.approved and got.raw == approved()


def test_the_same_outcome_again_is_answered_200_with_the_same_record(
    server: ScriptedServer,
) -> None:
    server.script(Reply(201, declined()), Reply(200, declined()))
    with make_client(server.url) as client:
        first = client.record_outcome(INQUIRY, "declined")
        again = client.record_outcome(INQUIRY, "declined")
    assert first == again
    assert first.outcome == Outcome.DECLINED and not first.approved
    assert (first.loan_ref, first.amount, first.currency, first.provisional_until) == (
        None,
        None,
        None,
        None,
    )
    assert [seen.json() for seen in server.seen] == [{"outcome": "declined"}] * 2


@pytest.mark.parametrize(
    ("status", "slug", "exception"),
    [
        (404, "not-found", NotFoundError),
        (409, "conflict", ConflictError),
        (422, "validation", ValidationError),
    ],
)
def test_refusals_are_the_sdks_exceptions_and_are_not_retried(
    server: ScriptedServer, status: int, slug: str, exception: type[Exception]
) -> None:
    errors = [{"field": "loan_ref", "message": "required when outcome is approved"}]
    body = problem(status, slug, "Refused", "the outcome was refused", errors=errors)
    server.script(Reply(status, body))
    with make_client(server.url) as client, pytest.raises(exception) as caught:
        client.record_outcome(INQUIRY, "approved", amount=1, currency="CNY")
    assert len(server.seen) == 1
    error: Any = caught.value
    assert error.status == status and error.problem_type == f"/problems/{slug}"
    if status == 422:
        assert [(e.field, e.message) for e in error.field_errors] == [
            ("loan_ref", "required when outcome is approved")
        ]


def test_a_passing_failure_is_retried_with_the_same_idempotency_key(
    server: ScriptedServer,
) -> None:
    sleeps = Sleeps()
    server.script(
        Reply(503, problem(503, "unavailable", "Down", "try again")), Reply(200, declined())
    )
    with make_client(server.url, sleeps) as client:
        got = client.record_outcome(INQUIRY, "declined")
    assert got.outcome == Outcome.DECLINED and len(sleeps.calls) == 1
    keys = [seen.headers["Idempotency-Key"] for seen in server.seen]
    assert len(keys) == 2 and keys[0] == keys[1]
    assert server.seen[0].body == server.seen[1].body


def test_arguments_are_checked_before_sending(server: ScriptedServer) -> None:
    with make_client(server.url) as client:
        with pytest.raises(ValueError, match="approved, declined, withdrawn"):
            client.record_outcome(INQUIRY, "accepted")
        with pytest.raises(ValueError, match="inquiry_id"):
            client.record_outcome(" ", "declined")
        with pytest.raises(TypeError, match="amount"):
            client.record_outcome(INQUIRY, "approved", loan_ref="L", amount=True, currency="CNY")
        with pytest.raises(TypeError, match="amount"):
            client.record_outcome(INQUIRY, "approved", loan_ref="L", amount=1.5, currency="CNY")  # type: ignore[arg-type]
    assert server.seen == []


def test_the_inquiry_id_is_one_path_segment(server: ScriptedServer) -> None:
    server.script(Reply(200, declined()))
    with make_client(server.url) as client:
        client.record_outcome("a/../b", "declined")
    assert server.seen[0].path == "/v1/inquiries/a%2F%2E%2E%2Fb/outcome"


def test_an_unreadable_answer_is_an_unexpected_response(server: ScriptedServer) -> None:
    broken = approved()
    del broken["recorded_at"]
    server.script(Reply(201, broken), Reply(201, approved(amount="300000")))
    with make_client(server.url) as client:
        with pytest.raises(UnexpectedResponseError, match="recorded_at"):
            client.record_outcome(INQUIRY, "approved", loan_ref="L", amount=1, currency="CNY")
        with pytest.raises(UnexpectedResponseError, match="amount"):
            client.record_outcome(INQUIRY, "approved", loan_ref="L", amount=1, currency="CNY")


# -- the command ------------------------------------------------------------------------------


def outcome(server: ScriptedServer, *args: str) -> Result:
    return CliRunner().invoke(
        cli, ["--url", server.url, "--api-key", API_KEY, "outcome", INQUIRY, *args]
    )


def test_the_command_records_an_approval_and_prints_it(server: ScriptedServer) -> None:
    server.script(Reply(201, approved()))
    result = outcome(
        server, "approved", "--loan-ref", "L-2026-0042", "--amount", "300000", "--currency", "cny"
    )
    assert result.exit_code == 0, result.output
    assert server.seen[0].json() == {
        "outcome": "approved",
        "loan_ref": "L-2026-0042",
        "amount": 300_000,
        "currency": "CNY",
    }
    text = result.stdout
    for shown in (
        "Application outcome",
        INQUIRY,
        "approved",
        "L-2026-0042",
        "3,000.00 CNY",
        "2026-11-28T11:20:00Z",
        "2026-12-12T11:45:00Z",
        "provisional loan until you report L-2026-0042",
    ):
        assert shown in text, (shown, text)


def test_the_command_prints_the_json_as_it_came(server: ScriptedServer) -> None:
    server.script(Reply(200, declined()))
    result = outcome(server, "declined", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == declined()
    assert server.seen[0].json() == {"outcome": "declined"}


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("approved", "--amount", "300000", "--currency", "CNY"), "needs --loan-ref"),
        (("approved",), "needs --loan-ref, --amount, --currency"),
        (("declined", "--amount", "300000"), "--amount only go with approved"),
        (("withdrawn", "--loan-ref", "L-1"), "--loan-ref only go with approved"),
        (("accepted",), "'accepted' is not one of"),
        (("approved", "--loan-ref", "L", "--amount", "0", "--currency", "CNY"), "--amount"),
    ],
)
def test_the_command_refuses_what_cannot_be_right(
    server: ScriptedServer, args: tuple[str, ...], said: str
) -> None:
    result = outcome(server, *args)
    assert result.exit_code == 2, result.output
    assert said in " ".join(result.stderr.split())
    assert server.seen == []


@pytest.mark.parametrize(
    ("status", "slug", "detail"),
    [
        (409, "conflict", "this inquiry already has the outcome 'declined'"),
        (404, "not-found", "no new_credit inquiry of yours with that inquiry_id"),
    ],
)
def test_the_command_reports_a_refusal_with_exit_status_3(
    server: ScriptedServer, status: int, slug: str, detail: str
) -> None:
    server.script(Reply(status, problem(status, slug, "Refused", detail)))
    result = outcome(server, "approved", "--loan-ref", "L", "--amount", "5", "--currency", "CNY")
    assert result.exit_code == 3, result.output
    assert f"HTTP {status}" in result.stderr and detail in result.stderr


def test_the_command_help_has_examples() -> None:
    result = CliRunner().invoke(cli, ["outcome", "--help"])
    assert result.exit_code == 0
    text = result.output
    assert "Usage: cli outcome [OPTIONS] INQUIRY_ID OUTCOME" in text
    assert "approved, declined or withdrawn" in text
    assert "--loan-ref L-2026-0042 --amount 300000 --currency CNY" in text
    assert "provisional loan" in text
    assert "outcome" in CliRunner().invoke(cli, ["--help"]).output
