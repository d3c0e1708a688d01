"""Logs: JSON lines in production, each with the request id; no secrets in them."""

from __future__ import annotations

import json

import pytest

from registry import create_app
from tests.helpers import loan, token


@pytest.mark.committed
def test_production_logs_are_json_with_the_request_id_and_no_secrets(
    database_url, new_lender, capsys
):
    lender = new_lender()
    app = create_app(
        {
            "database_url": database_url,
            "env": "production",
            "secret_key": "k" * 48,
            "log_level": "INFO",
        }
    )
    client = app.test_client()
    capsys.readouterr()
    response = client.post(
        "/v1/loans",
        json={"loans": [loan()]},
        headers={**lender.headers, "X-Request-ID": "req-abcdef123456"},
    )
    client.post(
        "/v1/inquiries",
        headers=lender.headers,
        json={"borrower": token(1), "purpose": "new_credit", "consent_ref": "c-1"},
    )
    client.get("/v1/loans", headers={"Authorization": "Bearer rk_wrong"})
    app.extensions["registry"].engine.dispose()
    err = capsys.readouterr().err
    lines = [json.loads(line) for line in err.splitlines() if line.strip()]
    assert response.status_code == 200 and len(lines) == 3
    first = lines[0]
    assert first["request_id"] == "req-abcdef123456" and first["level"] == "info"
    assert first["path"] == "/v1/loans" and first["status"] == 200
    assert first["lender"] == lender.code and first["ts"].endswith("Z")
    assert lines[2]["status"] == 401
    secret = lender.api_key.split("_", 2)[2]
    assert secret not in err and "rk_wrong" not in err
    assert token(1) not in err  # borrower tokens stay out of the logs


def test_development_logs_are_readable_lines(database_url, capsys):
    app = create_app({"database_url": database_url})
    capsys.readouterr()
    app.test_client().get("/healthz")
    app.extensions["registry"].engine.dispose()
    err = capsys.readouterr().err
    assert "registry.access: request" in err and "status=200" in err
    assert not err.lstrip().startswith("{")
