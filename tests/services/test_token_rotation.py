"""Key and pepper rotation with several lenders: no match is lost before, during or after
the window; the old key and the old tokens are gone afterwards. Also the registry's
`keys` and `tokens` commands."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

import rfc9497
from registry.cli import main as registry_cli
from registry.db import transaction
from registry.models import (
    AuditEvent,
    Inquiry,
    KeyState,
    Loan,
    LoanHistory,
    LoanMonth,
    RotationKind,
    TokenKey,
)
from registry.services import audit, tokens
from registry.services.errors import Conflict
from registry.services.tokens import rotation as rotation_service
from tests.helpers import bearer, loan, tokenize

PEPPER = bytes.fromhex("11" * 32)
NEW_PEPPER = bytes.fromhex("22" * 32)
PERSON = ("cn_resident_id", "11010519491231002X")
OTHER = ("phone", "+8613800138000")


def report(client, lender, loan_ref, borrower, borrower_next=None, **fields):
    record = loan(loan_ref, borrower, **fields)
    if borrower_next:
        record["borrower_next"] = borrower_next
    body = client.post("/v1/loans", json={"loans": [record]}, headers=bearer(lender.api_key))
    assert body.status_code == 200, body.get_json()
    return body.get_json()


def inquire(client, lender, borrower, borrower_next=None):
    payload = {"borrower": borrower, "purpose": "new_credit", "consent_ref": "c-1"}
    if borrower_next:
        payload["borrower_next"] = borrower_next
    response = client.post("/v1/inquiries", json=payload, headers=bearer(lender.api_key))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def start(session, signer, kind, now, label=""):
    with transaction(session):
        return tokens.start_rotation(session, signer, kind, now, audit.CLI, label)


def retire(session, signer, now, force=False) -> tokens.RetireResult:
    """As `registry keys retire` does it: one unit of work, then the old key destroyed."""
    with transaction(session):
        result = tokens.retire_rotation(session, now, audit.CLI, force=force)
    if result.destroyed_key:
        signer.destroy_key(result.destroyed_key)
    return result


def cancel(session, signer, now):
    with transaction(session):
        discarded = tokens.cancel_rotation(session, now, audit.CLI)
    if discarded:
        signer.destroy_key(discarded)


def lenders_seen(report_body):
    return report_body["summary"]["lenders_with_open_loans"]


@pytest.fixture
def three_lenders(new_lender):
    return new_lender("alpha"), new_lender("beta"), new_lender("gamma")


def test_same_pepper_same_token_other_pepper_other_token(client, three_lenders, token_key):
    alpha, beta, _ = three_lenders
    a = tokenize(client, alpha.api_key, PEPPER, [PERSON, OTHER])
    b = tokenize(client, beta.api_key, PEPPER, [("cn_resident_id", "11010519491231002x"), OTHER])
    assert a == b and a[0] != a[1]
    assert tokenize(client, beta.api_key, NEW_PEPPER, [PERSON]) != a[:1]


@pytest.mark.parametrize("kind", [RotationKind.KEY, RotationKind.PEPPER])
def test_full_rotation_loses_no_match(client, app, db_session, three_lenders, token_key, kind):
    alpha, beta, gamma = three_lenders
    signer = app.extensions["registry"].signer
    now = app.extensions["registry"].clock.now()
    old = tokenize(client, alpha.api_key, PEPPER, [PERSON])[0]

    # Before: alpha and beta lend to the person; gamma asks.
    report(client, alpha, "A-1", old)
    report(client, beta, "B-1", old)
    report(client, beta, "B-2", old, status="closed", outstanding=0)
    inquire(client, alpha, old)  # alpha's own hard inquiry, before the window
    assert lenders_seen(inquire(client, gamma, old)) == 2

    # The window opens.
    rotation = start(db_session, signer, kind, now, "test")
    next_pepper = NEW_PEPPER if kind == RotationKind.PEPPER else PEPPER
    info = client.get("/v1/tokens/key", headers=bearer(gamma.api_key)).get_json()
    assert info["rotation"]["kind"] == kind.value
    assert info["rotation"]["next"]["key_id"] == rotation.next_key_id

    def both(lender):
        current = tokenize(client, lender.api_key, PEPPER, [PERSON])[0]
        upcoming = tokenize(client, lender.api_key, next_pepper, [PERSON], rotation.next_key_id)[0]
        return current, upcoming

    current, upcoming = both(gamma)
    assert current == old and upcoming != old
    # During: alpha re-reports its book with both tokens, beta not yet.
    assert report(client, alpha, "A-1", *both(alpha))["unchanged"] == 1
    assert lenders_seen(inquire(client, gamma, current, upcoming)) == 2
    progress = {p.code: p for p in tokens.rotation_progress(db_session, now)}
    # beta's open loan and its closed one; gamma's earlier inquiry is covered by its
    # inquiry with both tokens, alpha's by its re-report.
    assert (progress["alpha"].done, progress["beta"].without_next) == (True, 2)
    assert progress["gamma"].done
    db_session.rollback()
    with pytest.raises(Conflict, match="beta"):
        retire(db_session, signer, now)
    db_session.rollback()

    # beta re-reports its open loan; the closed one, about the same borrower, goes with it.
    report(client, beta, "B-1", *both(beta))
    result = retire(db_session, signer, now)
    assert result.mapped_borrowers == 1

    # After: only the new token exists, and it matches everything the old one did.
    new_only = tokenize(client, gamma.api_key, next_pepper, [PERSON])[0]
    assert new_only == upcoming
    after = inquire(client, beta, new_only)
    assert lenders_seen(after) == 2
    # alpha's inquiries before and during the window still count for later callers.
    assert after["summary"]["other_lenders_inquiring"]["7d"] == 2  # alpha and gamma
    tables = (Loan.borrower, LoanHistory.borrower, LoanMonth.borrower, Inquiry.borrower)
    for column in tables:
        stored = set(db_session.scalars(select(column).distinct()))
        assert bytes.fromhex(old) not in stored
    assert db_session.scalar(select(func.count()).where(Loan.borrower_next.is_not(None))) == 0
    # Nor in the reports kept with the inquiries.
    assert old not in json.dumps(list(db_session.scalars(select(Inquiry.report))))
    db_session.rollback()
    assert lenders_seen(inquire(client, gamma, old)) == 0
    # The closed loan, never re-reported, moved to the new token with the borrower.
    moved = db_session.scalars(select(Loan).where(Loan.loan_ref == "B-2")).one()
    assert moved.borrower == bytes.fromhex(upcoming)
    # And so did every loan's months (the 24-month strings follow the borrower).
    months = set(db_session.scalars(select(LoanMonth.borrower).distinct()))
    assert months == {bytes.fromhex(upcoming)}
    if kind == RotationKind.KEY:
        retired = db_session.get(TokenKey, token_key.key_id)
        assert retired.state == KeyState.RETIRED
        key_dir = Path(app.extensions["registry"].settings.oprf_key_dir)
        assert not (key_dir / f"{token_key.key_id}.key").exists()
        refused = client.post(
            "/v1/tokens/evaluate",
            json={
                "blinded_elements": [rfc9497.blind(b"x", rfc9497.Mode.VOPRF)[1].hex()],
                "key_id": token_key.key_id,
            },
            headers=bearer(gamma.api_key),
        )
        assert refused.status_code == 400
    assert (
        client.get("/v1/tokens/key", headers=bearer(gamma.api_key)).get_json()["rotation"] is None
    )
    actions = [e.action for e in db_session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert actions[-2:] == ["token_rotation_opened", "token_rotation_retired"]


def test_forced_retire_deletes_loans_without_a_next_token(
    client, app, db_session, three_lenders, token_key
):
    alpha, beta, _ = three_lenders
    signer, now = app.extensions["registry"].signer, app.extensions["registry"].clock.now()
    person, other = tokenize(client, alpha.api_key, PEPPER, [PERSON, OTHER])
    report(client, alpha, "A-1", person)
    report(client, beta, "B-1", other)
    rotation = start(db_session, signer, RotationKind.KEY, now)
    upcoming = tokenize(client, alpha.api_key, PEPPER, [PERSON], rotation.next_key_id)[0]
    report(client, alpha, "A-1", person, upcoming)
    result = retire(db_session, signer, now, force=True)
    assert result.dropped["loans"] == {"beta": 1}
    assert set(db_session.scalars(select(Loan.loan_ref))) == {"A-1"}


def test_conflicting_next_tokens_stop_the_retire(client, app, db_session, three_lenders, token_key):
    alpha, beta, _ = three_lenders
    signer, now = app.extensions["registry"].signer, app.extensions["registry"].clock.now()
    person = tokenize(client, alpha.api_key, PEPPER, [PERSON])[0]
    report(client, alpha, "A-1", person)
    report(client, beta, "B-1", person)
    start(db_session, signer, RotationKind.PEPPER, now)
    right = tokenize(client, alpha.api_key, NEW_PEPPER, [PERSON])[0]
    wrong = tokenize(client, beta.api_key, bytes(32), [PERSON])[0]  # beta has a wrong pepper
    report(client, alpha, "A-1", person, right)
    report(client, beta, "B-1", person, wrong)
    with pytest.raises(Conflict, match="wrong pepper"):
        retire(db_session, signer, now)
    db_session.rollback()
    assert (
        db_session.scalar(select(func.count()).where(Loan.borrower == bytes.fromhex(person))) == 2
    )


def test_cancel_discards_next_tokens_and_key(client, app, db_session, three_lenders, token_key):
    alpha, _, _ = three_lenders
    signer, now = app.extensions["registry"].signer, app.extensions["registry"].clock.now()
    person = tokenize(client, alpha.api_key, PEPPER, [PERSON])[0]
    rotation = start(db_session, signer, RotationKind.KEY, now)
    upcoming = tokenize(client, alpha.api_key, PEPPER, [PERSON], rotation.next_key_id)[0]
    report(client, alpha, "A-1", person, upcoming)
    cancel(db_session, signer, now)
    assert db_session.scalar(select(Loan.borrower_next)) is None
    assert db_session.get(TokenKey, rotation.next_key_id).state == KeyState.RETIRED
    assert tokenize(client, alpha.api_key, PEPPER, [PERSON])[0] == person


def test_a_second_token_outside_a_window_is_refused(client, three_lenders, token_key):
    alpha, _, _ = three_lenders
    body = report(client, alpha, "A-1", "ab" * 32, "cd" * 32)
    assert body["accepted"] == 0
    assert body["rejected"][0]["errors"][0]["field"] == "loans[0].borrower_next"
    response = client.post(
        "/v1/inquiries",
        json={
            "borrower": "ab" * 32,
            "borrower_next": "cd" * 32,
            "purpose": "new_credit",
            "consent_ref": "c",
        },
        headers=bearer(alpha.api_key),
    )
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"] == "borrower_next"


# -- the registry CLI ------------------------------------------------------------------------


@pytest.fixture
def cli_env(database_url, app, monkeypatch):
    """The CLI on the test database, with the key directory of the app under test."""
    monkeypatch.setenv("REGISTRY_DATABASE_URL", database_url)
    monkeypatch.setenv("REGISTRY_OPRF_KEY_DIR", app.extensions["registry"].settings.oprf_key_dir)
    return CliRunner()


def run(runner, *args, input=None, ok=True):
    result = runner.invoke(registry_cli, list(args), input=input)
    if ok:
        assert result.exit_code == 0, result.output
    return result


@pytest.mark.committed
def test_keys_commands_walk_a_rotation(cli_env, new_lender, db_session):
    runner = cli_env
    assert "created" in run(runner, "keys", "init").output
    assert "already exists" in run(runner, "keys", "init", ok=False).output
    assert "nothing to do" in run(runner, "keys", "init", "--if-missing").output
    assert "no rotation window" in run(runner, "keys", "status").output
    new_lender("alpha")
    opened = run(runner, "keys", "rotate", "--label", "yearly").output
    assert "key rotation window open" in opened
    assert "alpha" in run(runner, "keys", "status").output
    assert "next" in run(runner, "keys", "show").output
    first_key = db_session.scalars(
        select(TokenKey.key_id).where(TokenKey.state == KeyState.CURRENT)
    ).one()
    db_session.rollback()
    assert "retired" in run(runner, "keys", "retire", "--yes").output
    assert not (Path(os.environ["REGISTRY_OPRF_KEY_DIR"]) / f"{first_key}.key").exists()
    assert "no rotation window" in run(runner, "keys", "status").output
    # The pepper's fingerprint: recorded, then moved on by a pepper rotation.
    assert "16 hexadecimal" in run(runner, "keys", "pepper-fingerprint", "xyz", ok=False).output
    run(runner, "keys", "pepper-fingerprint", "AB" * 8)
    assert "abababababababab" in run(runner, "keys", "show").output
    run(runner, "keys", "rotate", "--pepper", "--fingerprint", "cd" * 8)
    show = run(runner, "keys", "show").output
    assert "abababababababab" in show and "pepper rotation" in show
    run(runner, "keys", "retire", "--yes")
    assert "cdcdcdcdcdcdcdcd" in run(runner, "keys", "show").output
    keys = db_session.scalars(select(TokenKey).order_by(TokenKey.created_at)).all()
    assert sorted(k.state for k in keys) == ["current", "retired"]


def test_no_registry_command_takes_an_id_or_a_pepper(cli_env):
    """The registry's CLI holds the token key, so it never takes the pepper: a look-up by ID
    is made in the console, whose page computes the token in the operator's browser."""
    result = run(cli_env, "tokens", "lookup", "cn_resident_id", ok=False)
    assert result.exit_code == 2
    assert "never receives an ID or the consortium pepper" in result.output
    assert "lender-client tokenize" in result.output


@pytest.mark.committed
def test_tokens_quota_command(cli_env, new_lender):
    runner = cli_env
    new_lender("alpha")
    assert "default" in run(runner, "tokens", "quota", "alpha").output
    run(runner, "tokens", "quota", "alpha", "500")
    assert "quota 500" in run(runner, "tokens", "quota", "alpha").output
    run(runner, "tokens", "quota", "alpha", "--default")
    assert "default" in run(runner, "tokens", "quota", "alpha").output


@pytest.mark.committed
def test_an_upload_during_the_retire_waits_and_loses_nothing(
    client, app, db_session, three_lenders, token_key, monkeypatch
):
    """Retiring holds every lender: an upload arriving meanwhile waits, then finds the
    window closed (its second token refused), and nothing is deleted by mistake."""
    alpha, beta, _ = three_lenders
    signer, now = app.extensions["registry"].signer, app.extensions["registry"].clock.now()
    person, other = tokenize(client, alpha.api_key, PEPPER, [PERSON, OTHER])
    report(client, alpha, "A-1", person)
    start(db_session, signer, RotationKind.PEPPER, now)
    [upcoming] = tokenize(client, alpha.api_key, NEW_PEPPER, [PERSON])
    report(client, alpha, "A-1", person, upcoming)
    [other_next] = tokenize(client, beta.api_key, NEW_PEPPER, [OTHER])

    refuse_missing = rotation_service._refuse_missing
    started = threading.Event()

    def slow_check(*args, **kwargs):
        started.set()
        time.sleep(1.0)  # the upload below arrives now
        return refuse_missing(*args, **kwargs)

    monkeypatch.setattr(rotation_service, "_refuse_missing", slow_check)
    outcome: dict[str, tokens.RetireResult] = {}
    retiring = threading.Thread(
        target=lambda: outcome.setdefault("result", retire(db_session, signer, now))
    )
    retiring.start()
    assert started.wait(10)
    body = report(client, beta, "B-1", other, other_next)
    retiring.join(20)
    assert outcome["result"].lost == 0
    assert body["accepted"] == 0
    assert body["rejected"][0]["errors"][0]["field"] == "loans[0].borrower_next"
    loans = dict(db_session.execute(select(Loan.loan_ref, Loan.borrower)).tuples().all())
    db_session.rollback()
    assert loans == {"A-1": bytes.fromhex(upcoming)}
