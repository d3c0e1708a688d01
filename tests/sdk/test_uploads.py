"""Uploads in batches: rejections mapped to stream positions, idempotency key prefixes,
partial failures, the counts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest

from lender_client import (
    AuthenticationError,
    LoanReport,
)
from tests.sdk.scripted import (
    Reply,
    ScriptedServer,
    make_client,
    problem,
    report,
    submission,
)


def test_report_loans_streams_batches_and_maps_rejections(server: ScriptedServer) -> None:
    def batch_reply(accepted: int, rejected: list[Any]) -> Reply:
        body = submission(accepted, rejected)
        body["submission_id"] = f"sub-{len(server.replies)}"
        return Reply(200, body)

    bad_due = {"field": "loans[1].due_on", "message": "must not be before opened_on"}
    server.script(
        batch_reply(2, []),
        batch_reply(1, [{"index": 1, "loan_ref": "L-3", "errors": [bad_due]}]),
        batch_reply(1, []),
    )
    pulled: list[int] = []

    def records() -> Iterator[LoanReport]:
        for i in range(5):
            pulled.append(i)
            yield report(i)

    seen_at_request: list[int] = []
    batches: list[Any] = []

    def on_batch(batch: Any) -> None:
        batches.append(batch)
        seen_at_request.append(len(pulled))

    with make_client(server.url) as client:
        summary = client.report_loans(records(), batch_size=2, on_batch=on_batch)
    assert summary.records == 5 and summary.batches == 3
    assert summary.accepted == 4 and summary.rejected_count == 1 and not summary.ok
    (rejection,) = summary.rejected
    assert rejection.index == 3 and rejection.loan_ref == "L-3" and rejection.batch == 1
    assert rejection.errors == [("due_on", "must not be before opened_on")]
    assert "due_on: must not be before opened_on" in rejection.reasons
    # Lazily consumed: each batch was sent before the next was read.
    assert seen_at_request == [2, 4, 5]
    assert [b.start_index for b in batches] == [0, 2, 4]
    assert [len(s.json()["loans"]) for s in server.seen] == [2, 2, 1]
    assert len({s.headers["Idempotency-Key"] for s in server.seen}) == 3
    assert summary.submission_ids == [b.submission_id for b in batches]


def test_report_loans_prefix_keys_and_mappings(server: ScriptedServer) -> None:
    server.script(Reply(200, submission()), Reply(200, submission()))
    records = [
        {**report(1).to_json(), "opened_on": date(2026, 1, 2)},
        {**report(2).to_json(), "as_of": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)},
    ]
    with make_client(server.url) as client:
        client.report_loans(records, batch_size=1, idempotency_key_prefix="book-2026-11-20")
    assert [s.headers["Idempotency-Key"] for s in server.seen] == [
        "book-2026-11-20-0",
        "book-2026-11-20-1",
    ]
    assert server.seen[0].json()["loans"][0]["opened_on"] == "2026-01-02"
    assert server.seen[1].json()["loans"][0]["as_of"] == "2026-01-02T03:04:05Z"


def test_report_loans_checks_every_prefixed_key_before_sending(server: ScriptedServer) -> None:
    # 11 batches: the last key is f"{prefix}-10", one character longer than the first.
    with make_client(server.url) as client:
        with pytest.raises(ValueError, match=r"too long.*256 characters"):
            client.report_loans([report(i) for i in range(11)], 1, idempotency_key_prefix="p" * 253)
        with pytest.raises(ValueError, match="printable ASCII"):
            client.report_loans([report()], idempotency_key_prefix=" leading-space")
        with pytest.raises(ValueError, match="printable ASCII"):
            client.report_loans([report()], idempotency_key_prefix="tab\there")
        # A stream of unknown length leaves room for the largest batch number there can be.
        with pytest.raises(ValueError, match="too long"):
            client.report_loans(iter([report()]), 1000, idempotency_key_prefix="p" * 239)
    assert server.seen == []

    server.script(*[Reply(200, submission())] * 12)
    with make_client(server.url) as client:
        client.report_loans([report(i) for i in range(11)], 1, idempotency_key_prefix="q" * 252)
        client.report_loans(iter([report()]), 1000, idempotency_key_prefix="r" * 238)
    keys = [s.headers["Idempotency-Key"] for s in server.seen]
    assert keys[0] == "q" * 252 + "-0" and keys[10] == "q" * 252 + "-10"
    assert keys[11] == "r" * 238 + "-0"


def test_report_loans_failure_carries_partial_summary(server: ScriptedServer) -> None:
    server.script(
        Reply(200, submission(2)),
        Reply(401, problem(401, "unauthenticated", "Unauthenticated", "key revoked")),
    )
    with make_client(server.url) as client, pytest.raises(AuthenticationError) as info:
        client.report_loans((report(i) for i in range(10)), batch_size=2)
    partial = info.value.partial_summary
    assert partial is not None and partial.accepted == 2 and partial.batches == 1


def test_report_loans_empty_input_sends_nothing(server: ScriptedServer) -> None:
    with make_client(server.url) as client:
        summary = client.report_loans([])
        with pytest.raises(ValueError):
            client.report_loans([report()], batch_size=5001)
    assert summary.records == 0 and server.seen == []


def by_id_record(ref: str, kind: str, value: str) -> dict[str, Any]:
    record = report(0).to_json()
    del record["borrower"]
    return {**record, "loan_ref": ref, "id_kind": kind, "id_value": value}


def test_report_loans_counts_local_and_registry_rejections_apart(server: ScriptedServer) -> None:
    # Records with an ID that is not valid are refused here and never sent (no pepper or
    # registry key is needed for that); the registry rejects one of those it receives.
    bad_currency = {"field": "loans[1].currency", "message": "not an ISO 4217 code"}
    server.script(
        Reply(200, submission(2, [{"index": 1, "loan_ref": "L-3", "errors": [bad_currency]}]))
    )
    records: list[Any] = [
        report(1),
        by_id_record("L-2", "cn_resident_id", "123"),  # not a valid resident ID
        report(3),
        by_id_record("L-4", "shoe_size", "42"),  # an unknown kind of ID
        report(5),
    ]
    batches: list[Any] = []
    with make_client(server.url) as client:
        summary = client.report_loans(records, on_batch=batches.append)
    assert summary.records == 5 and summary.sent == 3
    assert summary.rejected_count == 3
    assert summary.rejected_locally == 2 and summary.rejected_by_registry == 1
    assert summary.accepted == 2
    (batch,) = batches
    assert batch.size == 5 and batch.sent == 3
    assert batch.rejected_locally == 2 and batch.rejected_by_registry == 1
    assert [r.index for r in summary.rejected] == [1, 2, 3]
    assert [r.errors[0].field for r in summary.rejected] == ["id_value", "currency", "id_kind"]
    assert [loan["loan_ref"] for loan in server.seen[0].json()["loans"]] == ["L-1", "L-3", "L-5"]


def test_report_loans_sends_nothing_when_every_record_is_refused_locally(
    server: ScriptedServer,
) -> None:
    with make_client(server.url) as client:
        summary = client.report_loans([by_id_record("L-1", "cn_resident_id", "123")])
    assert server.seen == []
    assert summary.records == 1 and summary.sent == 0
    assert summary.rejected_locally == 1 and summary.rejected_by_registry == 0
    assert summary.submission_ids == []
