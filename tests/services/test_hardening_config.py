"""Hardening of settings and of the whole app (issue 12): secrets never in a repr, secrets
from files, /metrics behind a token with bounded labels, HSTS, trusted proxies, no debugger
in production."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask, request

from registry import create_app
from registry.cli import main
from registry.config import ConfigError, Settings
from registry.http_security import HSTS

SECRET = "s3cr3t-" + "k" * 40
PASSWORD = "pgPassw0rd"
TOKEN = "metrics-bearer-XYZ"


def test_no_secret_is_in_the_settings_repr():
    settings = Settings(
        database_url=f"postgresql://registry:{PASSWORD}@db/registry",
        secret_key=SECRET,
        oprf_keys="k1:" + "ab" * 32,
        metrics_token=TOKEN,
    )
    for text in (repr(settings), str(settings), f"{settings}"):
        assert SECRET not in text and PASSWORD not in text and TOKEN not in text
        assert "ab" * 32 not in text
        assert "postgresql://registry:***@db/registry" in text


def test_every_secret_may_come_from_a_file(tmp_path: Path):
    files = {}
    for name, value in (
        ("REGISTRY_SECRET_KEY", SECRET),
        ("REGISTRY_DATABASE_URL", f"postgresql://registry:{PASSWORD}@db/registry"),
        ("REGISTRY_OPRF_KEYS", "k1:" + "cd" * 32),
        ("REGISTRY_METRICS_TOKEN", TOKEN),
    ):
        path = tmp_path / name
        path.write_text(value + "\n")  # as `echo` writes it
        files[f"{name}_FILE"] = str(path)
    settings = Settings.from_env({"REGISTRY_ENV": "production", **files}).validated()
    assert settings.secret_key == SECRET
    assert settings.database_url.endswith(f"{PASSWORD}@db/registry")
    assert settings.oprf_keys == "k1:" + "cd" * 32
    assert settings.metrics_token == TOKEN


def test_a_secret_and_its_file_together_or_a_missing_file_are_refused(tmp_path: Path):
    path = tmp_path / "key"
    path.write_text(SECRET)
    with pytest.raises(ConfigError, match="not both"):
        Settings.from_env({"REGISTRY_SECRET_KEY": SECRET, "REGISTRY_SECRET_KEY_FILE": str(path)})
    with pytest.raises(ConfigError, match="REGISTRY_SECRET_KEY_FILE") as caught:
        Settings.from_env({"REGISTRY_SECRET_KEY_FILE": str(tmp_path / "missing")})
    assert SECRET not in str(caught.value)


def _app(database_url: str, tmp_path: Path, **config: object):
    return create_app(
        {"database_url": database_url, "oprf_key_dir": str(tmp_path / "keys"), **config}
    )


def test_metrics_are_open_in_development_without_a_token(database_url, tmp_path):
    assert _app(database_url, tmp_path).test_client().get("/metrics").status_code == 200


def test_metrics_are_closed_in_production_without_a_token(database_url, tmp_path):
    app = _app(database_url, tmp_path, env="production", secret_key=SECRET)
    response = app.test_client().get("/metrics")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"


def test_metrics_ask_for_the_configured_bearer_token(database_url, tmp_path):
    client = _app(database_url, tmp_path, metrics_token=TOKEN).test_client()
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 404
    answer = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200 and b"registry_http_requests_total" in answer.data


def test_invented_methods_and_paths_create_no_new_series(database_url, tmp_path):
    client = _app(database_url, tmp_path).test_client()
    for n in range(20):
        client.open(f"/nowhere/{n}", method=f"BREW{n}")
        client.get(f"/v1/nothing-{n}")
    text = client.get("/metrics").get_data(as_text=True)
    assert "BREW" not in text and "nowhere" not in text and "nothing-" not in text
    assert 'method="other",route="other"' in text


def test_production_answers_carry_hsts(database_url, tmp_path):
    app = _app(database_url, tmp_path, env="production", secret_key=SECRET)
    assert app.test_client().get("/healthz").headers["Strict-Transport-Security"] == HSTS
    assert (
        "Strict-Transport-Security"
        not in _app(database_url, tmp_path).test_client().get("/healthz").headers
    )


def test_forwarded_headers_are_believed_only_from_configured_proxies(database_url, tmp_path):
    seen: list[str | None] = []

    def remember(app: Flask) -> None:
        def remote() -> str:
            seen.append(request.remote_addr)
            return "ok"

        app.add_url_rule("/test-remote-addr", view_func=remote)

    headers = {"X-Forwarded-For": "203.0.113.9"}
    for proxies in (0, 1):
        app = _app(database_url, tmp_path, trusted_proxies=proxies)
        remember(app)
        app.test_client().get("/test-remote-addr", headers=headers)
    assert seen == ["127.0.0.1", "203.0.113.9"]


def test_serve_refuses_the_debugger_in_production(monkeypatch, tmp_path):
    monkeypatch.setenv("REGISTRY_ENV", "production")
    monkeypatch.setenv("REGISTRY_SECRET_KEY", SECRET)
    monkeypatch.setenv("REGISTRY_DATABASE_URL", f"sqlite:///{tmp_path}/r.db")
    monkeypatch.setenv("REGISTRY_OPRF_KEY_DIR", str(tmp_path / "keys"))
    result = CliRunner().invoke(main, ["serve", "--debug", "--port", "1"])
    assert result.exit_code == 2
    assert "--debug is refused with REGISTRY_ENV=production" in result.output
