"""Retries: the backoff and Retry-After policy, and what is retried (or not) against a
scripted server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from lender_client import (
    APIConnectionError,
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RegistryClient,
    RegistryError,
    ServerError,
    ValidationError,
    backoff_delay,
    is_retryable,
    parse_retry_after,
)
from tests.sdk.scripted import (
    API_KEY,
    TOKEN,
    CountingSession,
    Reply,
    ScriptedServer,
    Sleeps,
    free_port,
    inquiry_body,
    make_client,
    problem,
    report,
    submission,
)


def test_backoff_is_exponential_full_jitter_with_cap() -> None:
    top = 0.999999
    assert backoff_delay(0, rand=lambda: top) == pytest.approx(0.5, rel=1e-5)
    assert backoff_delay(1, rand=lambda: top) == pytest.approx(1.0, rel=1e-5)
    assert backoff_delay(3, rand=lambda: top) == pytest.approx(4.0, rel=1e-5)
    assert backoff_delay(4, rand=lambda: top) == pytest.approx(8.0, rel=1e-5)
    assert backoff_delay(50, rand=lambda: top) == pytest.approx(8.0, rel=1e-5)
    assert backoff_delay(500, rand=lambda: top) == pytest.approx(8.0, rel=1e-5)
    assert backoff_delay(2, rand=lambda: 0.0) == 0.0
    assert backoff_delay(2, base=1.0, cap=3.0, rand=lambda: 0.5) == 1.5
    draws = [backoff_delay(2) for _ in range(200)]
    assert all(0 <= d <= 2.0 for d in draws)
    assert len(set(draws)) > 100  # jittered, not fixed


def test_parse_retry_after() -> None:
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None
    assert parse_retry_after("1") == 1.0
    assert parse_retry_after(" 2.5 ") == 2.5
    assert parse_retry_after("-1") is None
    assert parse_retry_after("soon") is None
    now = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(later, now=now) == 30.0
    earlier = format_datetime(now - timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(earlier, now=now) == 0.0


@pytest.mark.parametrize(
    ("status", "problem_type", "retry"),
    [
        (408, None, True),
        (429, "/problems/rate-limited", True),
        (500, None, True),
        (502, None, True),
        (503, None, True),
        (504, None, True),
        # The registry never sends a retryable 409: a reused key is answered at once.
        (409, "/problems/idempotency-in-progress", False),
        (409, "/problems/idempotency-conflict", False),
        (400, "/problems/malformed-request", False),
        (401, "/problems/unauthenticated", False),
        (403, "/problems/forbidden", False),
        (404, "/problems/not-found", False),
        (413, None, False),
        (415, None, False),
        (422, "/problems/validation", False),
    ],
)
def test_is_retryable(status: int, problem_type: str | None, retry: bool) -> None:
    assert is_retryable(status, problem_type) is retry


def test_retries_503_then_succeeds_with_the_same_idempotency_key(server: ScriptedServer) -> None:
    server.script(
        Reply(503, problem(503, "unavailable", "Down", "")), Reply(503), Reply(200, submission())
    )
    sleeps = Sleeps()
    with make_client(server.url, sleeps) as client:
        result = client.submit_batch([report()])
    assert result.accepted == 1 and result.submission_id == "sub-1"
    assert len(server.seen) == 3
    keys = {s.headers["Idempotency-Key"] for s in server.seen}
    assert len(keys) == 1 and result.idempotency_key in keys
    assert len({s.body for s in server.seen}) == 1
    assert len(sleeps.calls) == 2
    assert 0 <= sleeps.calls[0] <= 0.5 and 0 <= sleeps.calls[1] <= 1.0


def test_retry_after_is_honoured(server: ScriptedServer) -> None:
    server.script(
        Reply(429, problem(429, "rate-limited", "Too many", ""), {"Retry-After": "1"}),
        Reply(200, submission()),
    )
    sleeps = Sleeps()
    with make_client(server.url, sleeps) as client:
        client.submit_batch([report()])
    assert sleeps.calls == [1.0]
    assert len(server.seen) == 2


def test_rate_limit_error_after_retries_carries_retry_after(server: ScriptedServer) -> None:
    limited = Reply(429, problem(429, "rate-limited", "Too many", ""), {"Retry-After": "2"})
    server.script(limited, limited)
    sleeps = Sleeps()
    client = make_client(server.url, sleeps, max_retries=1)
    with client, pytest.raises(RateLimitError) as info:
        client.get_loan("L-1")
    assert info.value.retry_after == 2.0
    assert sleeps.calls == [2.0]


def test_retry_after_longer_than_allowed_is_not_waited_for(server: ScriptedServer) -> None:
    server.script(Reply(429, problem(429, "rate-limited", "Later", ""), {"Retry-After": "3600"}))
    sleeps = Sleeps()
    with make_client(server.url, sleeps) as client, pytest.raises(RateLimitError):
        client.get_loan("L-1")
    assert sleeps.calls == [] and len(server.seen) == 1


@pytest.mark.parametrize(
    ("status", "slug", "cls"),
    [
        (400, "malformed-request", ValidationError),
        (401, "unauthenticated", AuthenticationError),
        (403, "forbidden", PermissionDeniedError),
        (404, "not-found", NotFoundError),
        (409, "idempotency-conflict", ConflictError),
        (422, "validation", ValidationError),
    ],
)
def test_client_errors_are_not_retried(
    server: ScriptedServer, status: int, slug: str, cls: type[RegistryError]
) -> None:
    server.script(Reply(status, problem(status, slug, "Nope", "detail")), Reply(200, submission()))
    sleeps = Sleeps()
    with make_client(server.url, sleeps) as client, pytest.raises(cls) as info:
        client.submit_batch([report()])
    assert len(server.seen) == 1 and sleeps.calls == []
    assert info.value.status == status
    assert info.value.request_id == "req-1"  # from the X-Request-ID header


def test_idempotency_in_progress_is_not_retried(server: ScriptedServer) -> None:
    # The registry answers a reused key at once (the first answer, or a conflict) and never
    # says "still in progress"; should a 409 of that type come anyway, it is not retried.
    server.script(
        Reply(409, problem(409, "idempotency-in-progress", "In progress", "")),
        Reply(200, submission()),
    )
    sleeps = Sleeps()
    with make_client(server.url, sleeps) as client, pytest.raises(ConflictError) as info:
        client.submit_batch([report()])
    assert info.value.in_progress and info.value.status == 409
    assert len(server.seen) == 1 and sleeps.calls == []


def test_inquiry_in_progress_is_raised_at_once_with_the_callers_key(
    server: ScriptedServer,
) -> None:
    in_progress = Reply(
        409,
        problem(409, "idempotency-in-progress", "In progress", "still working"),
        {"Retry-After": "2"},
    )
    server.script(in_progress, Reply(200, inquiry_body()))
    sleeps = Sleeps()
    with (
        make_client(server.url, sleeps, max_retries=2) as client,
        pytest.raises(ConflictError) as info,
    ):
        client.inquire(TOKEN, consent_ref="C-1", idempotency_key="app-77")
    assert info.value.in_progress and info.value.status == 409
    assert sleeps.calls == []
    assert [s.path for s in server.seen] == ["/v1/inquiries"]
    assert [s.headers["Idempotency-Key"] for s in server.seen] == ["app-77"]


def test_server_error_after_retries_are_used_up(server: ScriptedServer) -> None:
    server.script(*[Reply(500, problem(500, "internal", "Boom", ""))] * 3)
    sleeps = Sleeps()
    client = make_client(server.url, sleeps, max_retries=2)
    with client, pytest.raises(ServerError) as info:
        client.get_loan("L-1")
    assert len(server.seen) == 3 and len(sleeps.calls) == 2
    assert info.value.status == 500 and info.value.request_id == "req-3"


def test_connection_refused_raises_after_max_retries_plus_one_attempts() -> None:
    session = CountingSession()
    sleeps = Sleeps()
    url = f"http://127.0.0.1:{free_port()}"
    client = RegistryClient(url, API_KEY, max_retries=3, sleep=sleeps, session=session)
    with pytest.raises(APIConnectionError) as info:
        client.submit_batch([report()])
    session.close()
    assert session.attempts == 4
    assert len(sleeps.calls) == 3
    assert "refused" in str(info.value).lower()
    assert API_KEY not in str(info.value) and API_KEY not in repr(info.value)


def test_timeout_is_retried_with_the_same_key(server: ScriptedServer) -> None:
    server.script(Reply(200, submission(), delay=1.0), Reply(200, submission()))
    with make_client(server.url, timeout=0.3, max_retries=1) as client:
        assert client.submit_batch([report()]).accepted == 1
    assert server.seen[0].headers["Idempotency-Key"] == server.seen[1].headers["Idempotency-Key"]
