"""The transport: headers, idempotency keys, the API key kept secret, settings from the
environment."""

from __future__ import annotations

import pytest

from lender_client import (
    APITimeoutError,
    AuthenticationError,
    ConfigurationError,
    RegistryClient,
)
from tests.sdk.scripted import (
    API_KEY,
    TOKEN,
    Reply,
    ScriptedServer,
    inquiry_body,
    make_client,
    problem,
    report,
    submission,
)


def test_request_carries_auth_json_and_user_agent(server: ScriptedServer) -> None:
    server.script(Reply(200, submission()))
    with make_client(server.url) as client:
        client.submit_batch([report()])
    (seen,) = server.seen
    assert seen.method == "POST" and seen.path == "/v1/loans"
    assert seen.headers["Authorization"] == f"Bearer {API_KEY}"
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.headers["User-Agent"].startswith("lender-client/")
    assert seen.json() == {"loans": [report().to_json()]}


def test_timeout_raises_api_timeout_error(server: ScriptedServer) -> None:
    server.script(Reply(200, submission(), delay=1.0))
    client = make_client(server.url, timeout=0.2, max_retries=0)
    with client, pytest.raises(APITimeoutError):
        client.get_loan("L-1")


def test_callers_idempotency_key_wins(server: ScriptedServer) -> None:
    server.script(Reply(200, submission()), Reply(200, inquiry_body()))
    with make_client(server.url) as client:
        client.submit_batch([report()], idempotency_key="my-key-1")
        client.inquire(TOKEN, consent_ref="C-1", idempotency_key="my-key-2")
        with pytest.raises(ValueError):
            client.submit_batch([report()], idempotency_key="bad\nkey")
    assert [s.headers["Idempotency-Key"] for s in server.seen] == ["my-key-1", "my-key-2"]


def test_every_post_gets_a_fresh_key(server: ScriptedServer) -> None:
    server.script(Reply(200, submission()), Reply(200, submission()))
    with make_client(server.url) as client:
        client.submit_batch([report()])
        client.submit_batch([report()])
    assert server.seen[0].headers["Idempotency-Key"] != server.seen[1].headers["Idempotency-Key"]


def test_api_key_never_appears_in_errors_or_reprs(server: ScriptedServer) -> None:
    server.script(Reply(401, problem(401, "unauthenticated", "Unauthenticated", "bad key")))
    with make_client(server.url) as client:
        assert API_KEY not in repr(client)
        with pytest.raises(AuthenticationError) as info:
            client.get_loan("L-1")
    for text in (str(info.value), repr(info.value), str(info.value.problem)):
        assert API_KEY not in text


def test_missing_api_key_fails_at_construction(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REGISTRY_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="REGISTRY_API_KEY"):
        RegistryClient("http://127.0.0.1:1")
    with pytest.raises(ConfigurationError) as info:
        RegistryClient("http://127.0.0.1:1", "has space" + API_KEY)
    assert API_KEY not in str(info.value)


def test_defaults_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY_URL", "https://registry.test:8080/base/")
    monkeypatch.setenv("REGISTRY_API_KEY", API_KEY)
    with RegistryClient() as client:
        assert client.base_url == "https://registry.test:8080/base"
        assert client.timeout == (10.0, 10.0)
    monkeypatch.delenv("REGISTRY_URL")
    with RegistryClient() as client:
        assert client.base_url == "http://127.0.0.1:5000"
    with pytest.raises(ConfigurationError):
        RegistryClient("ftp://example.org", API_KEY)


@pytest.mark.parametrize(
    "url",
    ["http://registry.example.org", "http://10.0.0.5:8000", "http://[2001:db8::1]/", "HTTP://a.b"],
)
def test_plain_http_to_another_host_is_refused(url: str, monkeypatch) -> None:
    monkeypatch.delenv("REGISTRY_ALLOW_INSECURE_HTTP", raising=False)
    with pytest.raises(ConfigurationError, match="refusing plain http://"):
        RegistryClient(url, API_KEY)


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:5000", "http://localhost:8000", "http://[::1]:5000", "http://127.8.9.1"],
)
def test_plain_http_to_this_machine_is_allowed(url: str, monkeypatch) -> None:
    monkeypatch.delenv("REGISTRY_ALLOW_INSECURE_HTTP", raising=False)
    RegistryClient(url, API_KEY).close()


def test_plain_http_elsewhere_only_when_explicitly_allowed(monkeypatch) -> None:
    monkeypatch.delenv("REGISTRY_ALLOW_INSECURE_HTTP", raising=False)
    RegistryClient("http://registry.internal", API_KEY, allow_insecure_http=True).close()
    RegistryClient("https://registry.example.org", API_KEY).close()
    monkeypatch.setenv("REGISTRY_ALLOW_INSECURE_HTTP", "1")
    RegistryClient("http://registry.internal", API_KEY).close()
    with pytest.raises(ConfigurationError):
        RegistryClient("http://registry.internal", API_KEY, allow_insecure_http=False)


def test_the_cli_refuses_plain_http_elsewhere_as_a_usage_error(monkeypatch) -> None:
    from click.testing import CliRunner

    from lender_client.cli import cli

    monkeypatch.delenv("REGISTRY_ALLOW_INSECURE_HTTP", raising=False)
    env = {"REGISTRY_URL": "http://registry.example.org", "REGISTRY_API_KEY": API_KEY}
    refused = CliRunner().invoke(cli, ["loan", "L-1"], env=env)
    assert refused.exit_code == 2 and "refusing plain http://" in refused.output
    assert "--allow-insecure-http" in CliRunner().invoke(cli, ["--help"]).output
