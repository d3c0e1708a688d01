"""Quotas on inquiries and uploads per lender (issue 12): per UTC day and a per-minute burst
for inquiries, records per UTC day for uploads; defaults from the settings, per-lender
overrides; 429 with Retry-After and a problem type, counted in the metrics; a refused
request records nothing; idempotent replays are free."""

from __future__ import annotations

from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from registry.cli import main
from registry.db import transaction
from registry.models import Inquiry
from registry.services import lenders
from registry.services.audit import CLI
from registry.services.request_quotas import set_quotas
from tests.helpers import NOW, loan, token


def ask(client, lender, n: int, **headers: str):
    body = {"borrower": token(f"q{n}"), "purpose": "new_credit", "consent_ref": "c"}
    return client.post("/v1/inquiries", json=body, headers={**lender.headers, **headers})


def limit(db_session, code: str, **quotas: int) -> None:
    with transaction(db_session):
        set_quotas(db_session, lenders.get_lender(db_session, code), NOW, CLI, **quotas)


def inquiries_recorded(db_session) -> int:
    count = db_session.scalar(select(func.count()).select_from(Inquiry))
    db_session.rollback()
    return int(count or 0)


def test_the_burst_limit_answers_429_until_the_next_minute(client, new_lender, db_session, clock):
    lender = new_lender("busy")
    limit(db_session, "busy", inquiry_burst_per_minute=3)
    assert [ask(client, lender, n).status_code for n in range(3)] == [200, 200, 200]
    refused = ask(client, lender, 3)
    assert refused.status_code == 429
    assert refused.mimetype == "application/problem+json"
    assert refused.get_json()["type"].endswith("quota-exceeded")
    assert "3 inquiries a minute" in refused.get_json()["detail"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert inquiries_recorded(db_session) == 3  # the refused one was not recorded
    clock.advance(timedelta(minutes=1))
    assert ask(client, lender, 4).status_code == 200
    # Another lender has its own counters.
    assert ask(client, new_lender("other"), 5).status_code == 200


def test_the_daily_quota_and_its_retry_after(client, new_lender, db_session, clock):
    lender = new_lender("daily")
    limit(db_session, "daily", inquiries_per_day=2)
    assert [ask(client, lender, n).status_code for n in range(2)] == [200, 200]
    refused = ask(client, lender, 2)
    assert (
        refused.status_code == 429 and "daily quota of 2 inquiries" in refused.get_json()["detail"]
    )
    midnight = NOW.replace(hour=0, minute=0, second=0) + timedelta(days=1)
    assert int(refused.headers["Retry-After"]) == int((midnight - NOW).total_seconds())


def test_idempotent_replays_are_free(client, new_lender, db_session):
    lender = new_lender("replayer")
    limit(db_session, "replayer", inquiries_per_day=1)
    first = ask(client, lender, 1, **{"Idempotency-Key": "k-1"})
    again = ask(client, lender, 1, **{"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 200
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert ask(client, lender, 2).status_code == 429


def test_upload_records_per_day(client, new_lender, db_session):
    lender = new_lender("uploader")
    limit(db_session, "uploader", upload_records_per_day=3)
    batch = {"loans": [loan(f"U-{n}", n) for n in range(2)]}
    assert client.post("/v1/loans", json=batch, headers=lender.headers).status_code == 200
    over = {"loans": [loan(f"U-{n}", n) for n in range(2, 4)]}
    refused = client.post("/v1/loans", json=over, headers=lender.headers)
    assert (
        refused.status_code == 429
        and "daily quota of 3 loan records" in refused.get_json()["detail"]
    )
    # The refused batch changed nothing.
    assert client.get("/v1/loans/U-2", headers=lender.headers).status_code == 404
    assert client.get("/v1/loans/U-1", headers=lender.headers).status_code == 200


def test_refusals_are_counted_in_the_metrics(client, new_lender, db_session):
    lender = new_lender("metered")
    limit(db_session, "metered", inquiry_burst_per_minute=1)
    ask(client, lender, 1)
    ask(client, lender, 2)
    text = client.get("/metrics").get_data(as_text=True)
    assert 'registry_quota_refusals_total{kind="inquiries/min"}' in text


@pytest.mark.committed  # the command opens its own engine
def test_the_quota_command_sets_and_shows(database_url, monkeypatch, new_lender):
    new_lender("acme")
    monkeypatch.setenv("REGISTRY_DATABASE_URL", database_url)
    runner = CliRunner()
    result = runner.invoke(
        main, ["lenders", "quota", "acme", "--inquiries-per-day", "500", "--burst", "20"]
    )
    assert result.exit_code == 0, result.output
    assert "inquiries per day      500" in result.output
    assert "inquiries per minute   20" in result.output
    assert "records per day        default" in result.output
    reset = runner.invoke(main, ["lenders", "quota", "acme", "--burst", "0"])
    assert "inquiries per minute   default" in reset.output
    assert runner.invoke(main, ["lenders", "quota", "acme", "--burst", "-1"]).exit_code == 2
