"""Rotations that never lose history (issue 11): a retire waits for every row within
retention, closed loans and inquiries included; conflicts between lenders' mappings are
listed with the lenders and settled by dropping one lender's mapping (audited); a forced
retire prints and audits what it drops; phone sightings are dropped, as documented."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from registry.cli import main as registry_cli
from registry.db import transaction
from registry.models import (
    ApplicationOutcome,
    AuditEvent,
    BorrowerStatement,
    Dispute,
    Inquiry,
    Loan,
    RotationKind,
)
from registry.services import audit, tokens
from registry.services.errors import Conflict
from registry.services.loans import record_phones
from registry.services.tokens.rotation_drop import drop_mapping
from registry.services.tokens.rotation_rows import PHONE_TABLES, REKEYED
from registry.services.tokens.rotation_status import rotation_status
from tests.helpers import NOW, bearer, loan, token

P1, P2, P3, P4, P5 = (token(f"person-{n}") for n in range(1, 6))


def nxt(old: str) -> str:
    """The test's stand-in for a borrower's token under the next pepper."""
    return token(f"next:{old}")


def report(client, lender, record, borrower_next=None):
    if borrower_next:
        record = {**record, "borrower_next": borrower_next}
    response = client.post("/v1/loans", json={"loans": [record]}, headers=bearer(lender.api_key))
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert not body["rejected"], body
    return body


def inquire(client, lender, borrower) -> str:
    payload = {"borrower": borrower, "purpose": "new_credit", "consent_ref": "c-1"}
    response = client.post("/v1/inquiries", json=payload, headers=bearer(lender.api_key))
    assert response.status_code == 200, response.get_json()
    return str(response.get_json()["inquiry_id"])


def map_tokens(client, lender, pairs):
    body = {"mappings": [{"borrower": old, "borrower_next": new} for old, new in pairs]}
    response = client.post(
        "/v1/tokens/rotation/mappings", json=body, headers=bearer(lender.api_key)
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def open_window(db_session, app):
    state = app.extensions["registry"]
    with transaction(db_session):
        tokens.start_rotation(db_session, state.signer, RotationKind.PEPPER, NOW, audit.CLI)


def retire(db_session, force=False) -> tokens.RetireResult:
    with transaction(db_session):
        return tokens.retire_rotation(db_session, NOW, audit.CLI, force=force)


def snapshot(db_session) -> dict[str, list[dict[str, Any]]]:
    """Every row of every re-keyed table, as plain values."""
    rows = {}
    for table in REKEYED:
        rows[table.name] = [
            {k: (bytes(v) if isinstance(v, (bytes, memoryview)) else v) for k, v in r.items()}
            for r in db_session.execute(select(table)).mappings()
        ]
    db_session.rollback()
    return rows


def comparable(row: dict[str, Any]) -> str:
    return json.dumps(row, default=str, sort_keys=True)


@pytest.fixture
def book(client, db_session, new_lender, token_key):
    """alpha holds closed and written-off loans and inquiries only (with an outcome, a
    dispute of its loan and a statement about its borrower); beta an open loan, an inquiry
    and an inquiry three years old; one phone sighting."""
    alpha, beta = new_lender("alpha"), new_lender("beta")
    report(client, beta, loan("B-1", P1))
    report(client, alpha, loan("A-1", P1, status="closed"))
    report(client, alpha, loan("A-2", P2, status="written_off", days_past_due=120))
    inquire(client, alpha, P1)
    declined = inquire(client, alpha, P3)
    inquire(client, beta, P4)
    with transaction(db_session):
        db_session.add_all(
            [
                ApplicationOutcome(
                    borrower=bytes.fromhex(P3),
                    inquiry_id=declined,
                    lender_id=alpha.id,
                    outcome="declined",
                    inquired_at=NOW,
                    recorded_at=NOW,
                ),
                Dispute(
                    borrower=bytes.fromhex(P2),
                    id=str(uuid.uuid4()),
                    lender_id=alpha.id,
                    loan_ref="A-2",
                    opened_by_lender_id=beta.id,
                    tradeline="T1",
                    reason="not mine",
                    opened_at=NOW,
                    due_at=NOW + timedelta(days=20),
                    status="open",
                ),
                BorrowerStatement(borrower=bytes.fromhex(P2), text="I repaid", created_at=NOW),
                Inquiry(
                    borrower=bytes.fromhex(P5),
                    id=str(uuid.uuid4()),
                    lender_id=beta.id,
                    purpose="new_credit",
                    consent_ref="c-0",
                    flags=[],
                    created_at=NOW - timedelta(days=3 * 365),
                    report={},
                ),
            ]
        )
        record_phones(db_session, [(bytes.fromhex(P1), bytes.fromhex(token("phone")))], NOW)
    return alpha, beta


def test_a_lender_with_only_closed_loans_and_inquiries_loses_nothing(client, app, db_session, book):
    alpha, beta = book
    open_window(db_session, app)
    status = rotation_status(db_session, NOW)
    by_code = {lender.code: lender for lender in status.lenders}
    assert by_code["alpha"].loans == {"open": 0, "closed": 1, "written_off": 1}
    assert (by_code["alpha"].inquiries, by_code["alpha"].application_outcomes) == (2, 1)
    assert by_code["alpha"].disputes == 1
    assert by_code["beta"].loans["open"] == 1
    assert by_code["beta"].inquiries == 1  # the one three years old is past retention
    assert status.statements == 1
    assert status.expired == {"inquiries": 1, "application_outcomes": 0}
    assert status.phones == {"borrower_phones": 1, "phone_borrowers": 1}
    db_session.rollback()
    with pytest.raises(Conflict, match=r"alpha.*beta"):
        retire(db_session)
    db_session.rollback()

    # beta re-reports its open loan with both tokens and maps its applicant; alpha, which
    # uploads nothing any more, maps its borrowers and applicants from its own records.
    report(client, beta, loan("B-1", P1), nxt(P1))
    assert map_tokens(client, beta, [(P4, nxt(P4))])["matched"] == 1
    mapped = map_tokens(client, alpha, [(p, nxt(p)) for p in (P1, P2, P3, token("stranger"))])
    assert (mapped["matched"], mapped["unmatched"]) == (3, 1)
    assert mapped["rows"] == {"loan": 2, "inquiry": 2, "application_outcome": 1, "dispute": 1}
    assert rotation_status(db_session, NOW).ready
    before = snapshot(db_session)

    result = retire(db_session)
    assert result.lost == 0 and result.dropped == {}
    assert result.expired == {"inquiries": 1}
    assert result.phones == {"borrower_phones": 1, "phone_borrowers": 1}
    after = snapshot(db_session)
    for table, rows in before.items():
        expected = []
        for row in rows:
            if table == "inquiries" and row["borrower"] == bytes.fromhex(P5):
                continue  # past retention, nobody mapped: removed
            moved = {**row, "borrower": bytes.fromhex(nxt(row["borrower"].hex()))}
            if "borrower_next" in moved:
                moved["borrower_next"] = None
            expected.append(comparable(moved))
        assert sorted(map(comparable, after[table])) == sorted(expected), table
        assert len(after[table]) == len(rows) - (table == "inquiries"), table
    for phone_table in PHONE_TABLES:
        assert db_session.scalar(select(func.count()).select_from(phone_table)) == 0
    event = db_session.scalars(
        select(AuditEvent).where(AuditEvent.action == "token_rotation_retired")
    ).one()
    assert event.details["expired"] == {"inquiries": 1}
    assert event.details["phones_dropped"] == {"borrower_phones": 1, "phone_borrowers": 1}
    assert event.details["forced"] is False and event.details["dropped"] == {}
    # What the retire says it rewrote is what it moved, per table, on both backends.
    moved = {table: len(after[table]) for table in before if after[table]}
    assert {t: n for t, n in result.rewritten.items() if n} == moved
    assert event.details["rewritten"] == result.rewritten


def test_conflicts_are_listed_with_lenders_and_settled_by_dropping_a_mapping(
    client, app, db_session, book
):
    alpha, beta = book
    open_window(db_session, app)
    wrong = token("beta's wrong pepper")
    map_tokens(client, alpha, [(p, nxt(p)) for p in (P1, P2, P3)])
    report(client, beta, loan("B-1", P1), wrong)  # beta tokenises with a wrong pepper
    map_tokens(client, beta, [(P4, nxt(P4))])
    status = rotation_status(db_session, NOW)
    assert status.conflict_count == 1 and not status.ready
    [conflict] = status.conflicts
    assert (conflict.kind, conflict.token.hex(), conflict.lenders) == (
        "split",
        P1,
        ["alpha", "beta"],
    )
    assert {(c.lender, c.token.hex()) for c in conflict.claims} == {
        ("alpha", nxt(P1)),
        ("beta", wrong),
    }
    db_session.rollback()
    with pytest.raises(Conflict, match=r"alpha, beta"):
        retire(db_session, force=True)  # --force does not settle a conflict
    db_session.rollback()

    with transaction(db_session):
        dropped = drop_mapping(db_session, "beta", None, NOW, audit.CLI, "wrong pepper")
    assert (dropped.tokens, dropped.adopted, dropped.waiting) == (1, 1, 0)
    assert dropped.rows["loan"] == 1
    event = db_session.scalars(
        select(AuditEvent).where(AuditEvent.action == "token_mapping_dropped")
    ).one()
    assert event.target == "lender:beta" and event.details["borrowers"] == [P1]
    assert event.details["reason"] == "wrong pepper"
    # beta's loan follows alpha's mapping now: nothing blocks, and nothing is lost.
    beta_loan = db_session.scalars(select(Loan).where(Loan.loan_ref == "B-1")).one()
    assert beta_loan.borrower_next == bytes.fromhex(nxt(P1))
    assert rotation_status(db_session, NOW).ready
    db_session.rollback()
    result = retire(db_session)
    assert result.lost == 0
    moved = db_session.scalars(select(Loan.borrower).where(Loan.loan_ref == "B-1")).one()
    assert moved == bytes.fromhex(nxt(P1))


def test_one_next_token_for_two_borrowers_is_a_conflict(client, app, db_session, book):
    alpha, beta = book
    open_window(db_session, app)
    map_tokens(client, alpha, [(P1, nxt(P1)), (P2, nxt(P2)), (P3, nxt(P3))])
    map_tokens(client, beta, [(P1, nxt(P1)), (P4, nxt(P2))])  # beta's P4 collides with P2
    status = rotation_status(db_session, NOW)
    [conflict] = status.conflicts
    assert (conflict.kind, conflict.token.hex()) == ("merge", nxt(P2))
    assert {(c.lender, c.token.hex()) for c in conflict.claims} == {("alpha", P2), ("beta", P4)}
    db_session.rollback()
    with transaction(db_session):
        dropped = drop_mapping(db_session, "beta", [P4], NOW, audit.CLI)
    assert (dropped.tokens, dropped.adopted, dropped.waiting) == (1, 0, 1)
    status = rotation_status(db_session, NOW)
    assert status.conflict_count == 0
    assert {lender.code: lender.inquiries for lender in status.blocking} == {"beta": 1}


def test_a_forced_retire_keeps_what_another_lender_mapped(client, app, db_session, book):
    _, beta = book
    open_window(db_session, app)
    report(client, beta, loan("B-1", P1), nxt(P1))  # beta alone: alpha does nothing
    result = retire(db_session, force=True)
    # alpha's closed loan about P1 moves with beta's mapping; the rest of alpha is lost.
    assert db_session.scalars(select(Loan.borrower).where(Loan.loan_ref == "A-1")).one() == (
        bytes.fromhex(nxt(P1))
    )
    assert result.dropped["loans"] == {"alpha": 1}
    assert result.dropped["inquiries"] == {"alpha": 1, "beta": 1}  # P3's, and beta's P4
    assert result.dropped["application_outcomes"] == {"alpha": 1}
    assert result.dropped["disputes"] == {"alpha": 1}
    assert result.dropped["borrower_statements"] == {"-": 1}


# -- the registry CLI ------------------------------------------------------------------------


@pytest.fixture
def cli_env(database_url, app, monkeypatch):
    monkeypatch.setenv("REGISTRY_DATABASE_URL", database_url)
    monkeypatch.setenv("REGISTRY_OPRF_KEY_DIR", app.extensions["registry"].settings.oprf_key_dir)
    return CliRunner()


def run(runner, *args, ok=True):
    result = runner.invoke(registry_cli, list(args))
    if ok:
        assert result.exit_code == 0, result.output
    else:
        assert result.exit_code != 0, result.output
    return result.output


@pytest.mark.committed
def test_keys_status_and_drop_mapping_settle_a_conflict(cli_env, client, new_lender, db_session):
    runner = cli_env
    run(runner, "keys", "init")
    alpha, beta = new_lender("alpha"), new_lender("beta")
    report(client, alpha, loan("A-1", P1, status="closed"))
    report(client, beta, loan("B-1", P1))
    inquire(client, beta, P2)
    run(runner, "keys", "rotate", "--pepper")
    status = run(runner, "keys", "status")
    assert "alpha" in status and "beta" in status and "phone sightings" in status
    map_tokens(client, alpha, [(P1, nxt(P1))])
    report(client, beta, loan("B-1", P1), token("wrong"))
    status = run(runner, "keys", "status")
    assert "Conflicts between lenders' mappings: 1" in status
    assert f"old token {P1}" in status
    assert "alpha: " + nxt(P1)[:16] in status and "beta: " + token("wrong")[:16] in status
    assert "waiting for: beta" in status  # its inquiry about P2
    refused = run(runner, "keys", "retire", "--yes", ok=False)
    assert "conflicting" in refused and "alpha, beta" in refused

    dropped = run(
        runner,
        "keys",
        "drop-mapping",
        "--lender",
        "beta",
        "--reason",
        "old pepper",
        "--operator",
        "olga",
    )
    assert "dropped beta's next tokens for 1 borrower(s)" in dropped
    assert "1 now follow" in dropped
    event = db_session.scalars(
        select(AuditEvent).where(AuditEvent.action == "token_mapping_dropped")
    ).one()
    assert (event.actor, event.target) == ("cli:olga", "lender:beta")
    db_session.rollback()
    assert "Conflicts between lenders' mappings: 0" in run(runner, "keys", "status")
    assert "--lender" in run(runner, "keys", "drop-mapping", "--help")
    map_tokens(client, beta, [(P2, nxt(P2))])
    assert "nothing blocks" in run(runner, "keys", "status")
    assert "0 deleted" not in run(runner, "keys", "retire", "--yes")
    stored = set(db_session.scalars(select(Loan.borrower)))
    assert stored == {bytes.fromhex(nxt(P1))}


@pytest.mark.committed
def test_a_forced_retire_prints_and_audits_what_it_drops(cli_env, client, new_lender, db_session):
    runner = cli_env
    run(runner, "keys", "init")
    alpha, beta = new_lender("alpha"), new_lender("beta")
    report(client, alpha, loan("A-1", P1, status="closed"))
    report(client, beta, loan("B-1", P2))
    run(runner, "keys", "rotate", "--pepper")
    report(client, beta, loan("B-1", P2), nxt(P2))
    status = run(runner, "keys", "status")
    assert "waiting for: alpha" in status
    refused = run(runner, "keys", "retire", "--yes", ok=False)
    assert "alpha (1 closed loans)" in refused
    output = run(runner, "keys", "retire", "--force", "--yes")
    assert "FORCED: 4 rows deleted" in output
    for line in ("  loans: alpha 1", "  loan_history: alpha 1", "  loan_refs: alpha 1"):
        assert line in output
    event = db_session.scalars(
        select(AuditEvent).where(AuditEvent.action == "token_rotation_retired")
    ).one()
    assert event.details["forced"] is True
    assert event.details["dropped"]["loans"] == {"alpha": 1}
    assert set(db_session.scalars(select(Loan.loan_ref))) == {"B-1"}
