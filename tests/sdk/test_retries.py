"""Retries: the backoff and Retry-After policy, and what is retried (or not) against a
scripted server."""

from __future__ import annotations

import json
import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from click.testing import CliRunner

from lender_client import (
    APIConnectionError,
    AuthenticationError,
    ConfigurationError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RegistryClient,
    RegistryError,
    ServerError,
    UnexpectedResponseError,
    ValidationError,
    backoff_delay,
    is_retryable,
    parse_retry_after,
)
from lender_client.cli import cli
from lender_client.retries import RetryBudget
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
        # A 500 is the registry's own fault: asking again would only repeat it.
        (500, None, False),
        (501, None, False),
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
    server.script(*[Reply(502, problem(502, "bad-gateway", "Bad gateway", ""))] * 3)
    sleeps = Sleeps()
    client = make_client(server.url, sleeps, max_retries=2)
    with client, pytest.raises(ServerError) as info:
        client.get_loan("L-1")
    assert len(server.seen) == 3 and len(sleeps.calls) == 2
    assert info.value.status == 502 and info.value.request_id == "req-3"
    assert info.value.attempts == 3


def test_internal_error_is_not_retried(server: ScriptedServer) -> None:
    server.script(Reply(500, problem(500, "internal", "Boom", "")), Reply(200, submission()))
    sleeps = Sleeps()
    with make_client(server.url, sleeps) as client, pytest.raises(ServerError) as info:
        client.submit_batch([report()])
    assert len(server.seen) == 1 and sleeps.calls == [] and info.value.attempts == 1


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


# -- the time budget ------------------------------------------------------------------------


def test_retries_go_on_for_the_time_budget_not_a_count(server: ScriptedServer) -> None:
    # No max_retries: a registry down for a while is waited for, as long as retry_for allows.
    down = Reply(503, problem(503, "unavailable", "Unavailable", "the database is down"))
    server.script(*[down] * 40)
    sleeps = Sleeps()
    client = make_client(server.url, sleeps, retry_for=20.0, rand=lambda: 0.999)
    with client, pytest.raises(ServerError) as info:
        client.get_loan("L-1")
    # Waits of about 0.5, 1, 2, 4, 8, then the rest of the budget: never past it.
    assert sum(sleeps.calls) == pytest.approx(20.0, abs=0.05)
    assert sleeps.calls[:4] == pytest.approx([0.5, 1.0, 2.0, 4.0], rel=2e-3)
    assert len(server.seen) == len(sleeps.calls) + 1 == info.value.attempts
    assert info.value.attempts > 4  # the old count of 3 retries is no limit any more
    assert client.retry_stats.retries == len(sleeps.calls)
    assert client.retry_stats.waited == pytest.approx(20.0, abs=0.05)


def test_a_long_outage_is_ridden_out_with_the_same_key(server: ScriptedServer) -> None:
    down = Reply(503, problem(503, "unavailable", "Unavailable", ""))
    server.script(*[down] * 9, Reply(200, submission()))
    sleeps = Sleeps()
    with make_client(server.url, sleeps, rand=lambda: 0.999) as client:
        result = client.submit_batch([report()])
    assert result.accepted == 1 and len(server.seen) == 10
    assert len({s.headers["Idempotency-Key"] for s in server.seen}) == 1
    assert sum(sleeps.calls) < 60.0


def test_retry_after_past_the_budget_is_not_waited_for(server: ScriptedServer) -> None:
    server.script(
        Reply(503, problem(503, "unavailable", "Unavailable", ""), {"Retry-After": "2"}),
        Reply(503, problem(503, "unavailable", "Unavailable", ""), {"Retry-After": "2"}),
        Reply(503, problem(503, "unavailable", "Unavailable", ""), {"Retry-After": "2"}),
        Reply(200, submission()),
    )
    sleeps = Sleeps()
    client = make_client(server.url, sleeps, retry_for=5.0)
    with client, pytest.raises(ServerError) as info:
        client.get_loan("L-1")
    # 2 + 2 seconds waited; the third Retry-After would end after the budget: no third wait.
    assert sleeps.calls == [2.0, 2.0]
    assert len(server.seen) == 3 and info.value.attempts == 3


def test_retry_after_as_an_http_date(server: ScriptedServer) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=3), usegmt=True)
    server.script(
        Reply(429, problem(429, "rate-limited", "Slow down", ""), {"Retry-After": when}),
        Reply(200, submission()),
    )
    sleeps = Sleeps()
    with make_client(server.url, sleeps) as client:
        client.submit_batch([report()])
    (wait,) = sleeps.calls
    assert 1.0 < wait <= 3.0


def test_max_retries_still_caps_the_attempts(server: ScriptedServer) -> None:
    down = Reply(503, problem(503, "unavailable", "Unavailable", ""))
    server.script(*[down] * 5)
    sleeps = Sleeps()
    client = make_client(server.url, sleeps, max_retries=1, retry_for=600.0)
    with client, pytest.raises(ServerError):
        client.get_loan("L-1")
    assert len(server.seen) == 2 and len(sleeps.calls) == 1


def test_no_budget_means_no_retry(server: ScriptedServer) -> None:
    server.script(Reply(503, problem(503, "unavailable", "Unavailable", "")))
    sleeps = Sleeps()
    with make_client(server.url, sleeps, retry_for=0) as client, pytest.raises(ServerError):
        client.get_loan("L-1")
    assert sleeps.calls == [] and len(server.seen) == 1


def test_the_budget_is_real_time_when_nothing_answers() -> None:
    session = CountingSession()
    url = f"http://127.0.0.1:{free_port()}"
    client = RegistryClient(
        url, API_KEY, retry_for=1.0, backoff_base=0.05, backoff_cap=0.2, session=session
    )
    started = time.monotonic()
    with pytest.raises(APIConnectionError) as info:
        client.get_loan("L-1")
    elapsed = time.monotonic() - started
    session.close()
    assert 0.9 <= elapsed < 2.5
    assert session.attempts == info.value.attempts > 3
    assert f"after {session.attempts} attempts in" in str(info.value)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="retry_for"):
        RegistryClient("http://127.0.0.1:1", API_KEY, retry_for=-1)
    with pytest.raises(ConfigurationError, match="max_retries"):
        RegistryClient("http://127.0.0.1:1", API_KEY, max_retries=-1)


def test_retry_budget_counts_waits_even_when_sleep_is_replaced() -> None:
    budget = RetryBudget(10.0, clock=lambda: 0.0)
    waits = []
    while (wait := budget.next_wait(None, base=1.0, cap=4.0, rand=lambda: 1.0)) is not None:
        budget.spend(wait)
        waits.append(wait)
    assert waits == [1.0, 2.0, 4.0, 3.0]  # the last one cut to what is left
    assert budget.next_wait(0.0, base=1.0, cap=4.0, rand=lambda: 1.0) is None


# -- answers cut short or damaged ------------------------------------------------------------


class RawServer:
    """A loopback server that reads one request per connection, records it, writes the next
    scripted bytes as they are (a response cut short, say) and closes the connection."""

    def __init__(self, *replies: bytes) -> None:
        self.replies = list(replies)
        self.requests: list[bytes] = []
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while self.replies:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, _, body = data.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                while len(body) < length:
                    body += conn.recv(65536)
                self.requests.append(head)
                conn.sendall(self.replies.pop(0))

    def keys(self) -> list[str]:
        out = []
        for head in self.requests:
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"idempotency-key:"):
                    out.append(line.split(b":", 1)[1].strip().decode())
        return out

    def close(self) -> None:
        self._sock.close()
        self._thread.join(5)


def _http(status: int, body: bytes, length: int | None = None) -> bytes:
    head = (
        f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body) if length is None else length}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


def test_an_answer_cut_short_is_asked_again_with_the_same_key() -> None:
    whole = json.dumps(submission()).encode()
    raw = RawServer(
        _http(200, whole[:10], length=len(whole)),  # closed mid-body
        _http(200, b'{"submission_id": "sub-1", "acc'),  # complete, but not JSON
        b"",  # closed before any answer
        _http(200, whole),
    )
    sleeps = Sleeps()
    try:
        with make_client(raw.url, sleeps) as client:
            result = client.submit_batch([report()])
    finally:
        raw.close()
    assert result.accepted == 1
    assert len(raw.requests) == 4 and len(sleeps.calls) == 3
    assert len(set(raw.keys())) == 1


def test_an_unreadable_answer_after_the_budget_is_an_unexpected_response() -> None:
    raw = RawServer(*[_http(200, b"<html>oops</html>")] * 3)
    try:
        client = make_client(raw.url, Sleeps(), max_retries=2)
        with client, pytest.raises(UnexpectedResponseError, match="not JSON after 3 attempts"):
            client.get_loan("L-1")
    finally:
        raw.close()


# -- the command line -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "where",
    [
        ["--retry-for", "0.6", "loan", "L-1"],  # the group's option
        ["loan", "L-1", "--retry-for", "0.6"],  # after the command's name
        ["disputes", "list", "--retry-for", "0.6"],  # a group's command
    ],
)
def test_the_cli_retries_for_retry_for_seconds(where: list[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    result = CliRunner().invoke(cli, ["--url", url, "--api-key", API_KEY, *where])
    elapsed = time.monotonic() - started
    assert result.exit_code == 3
    assert "could not reach" in result.stderr and "attempts in" in result.stderr
    assert 0.5 <= elapsed < 5


def test_the_cli_retry_budget_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY_RETRY_FOR", "0")
    url = f"http://127.0.0.1:{free_port()}"
    result = CliRunner().invoke(cli, ["--url", url, "--api-key", API_KEY, "loan", "L-1"])
    assert result.exit_code == 3
    assert "could not reach" in result.stderr and "attempts" not in result.stderr
    assert "--retry-for SECONDS" in CliRunner().invoke(cli, ["upload", "--help"]).output
