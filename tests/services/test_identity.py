"""The phone as a secondary identifier (issue 10): phone tokens arrive on loan records and
inquiries, are kept in `borrower_phones` and `phone_borrowers` (one upsert per table per
batch), give the report's identity figures (checked against a hand computation, the 90-day
window at its boundary) and SHARED_PHONE, and never appear anywhere else: not in any answer,
replay, stored report, other table, operator view or log line."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import event, select

from registry.db import transaction
from registry.models import Base, BorrowerPhone, PhoneBorrower
from registry.services import audit, loan_view, lookup
from tests.helpers import NOW, iso, loan, token

B, C, D, E, F = (token(f"identity-{name}") for name in "BCDEF")
P1, P2, P3 = (token(f"phone-{n}") for n in (1, 2, 3))


def report(client: Any, lender: Any, *records: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/v1/loans", json={"loans": list(records)}, headers=lender.headers)
    assert response.status_code == 200, response.get_json()
    answer: dict[str, Any] = response.get_json()
    return answer


def inquire(client: Any, lender: Any, borrower: str, **extra: Any) -> dict[str, Any]:
    body = {"borrower": borrower, "purpose": "new_credit", "consent_ref": "c-1", **extra}
    response = client.post("/v1/inquiries", json=body, headers=lender.headers)
    assert response.status_code == 200, response.get_json()
    result: dict[str, Any] = response.get_json()
    return result


def test_identity_figures_match_a_hand_computation(client, new_lender, clock):
    one, two, asker = new_lender("one"), new_lender("two"), new_lender("asker")
    # 91 days ago: B with P3, F with P1 (both outside the window now).
    clock.set(NOW - timedelta(days=91))
    report(client, one, loan("OLD-B", B, as_of=iso(clock.now()), phone_token=P3))
    inquire(client, two, F, phone_token=P1)
    # 90 days ago exactly: E with P2 (inside the window, at its boundary).
    clock.set(NOW - timedelta(days=90))
    inquire(client, two, E, phone_token=P2)
    clock.set(NOW - timedelta(days=2))
    # P1: B, C (loan reports), D (an inquiry). P2: B and E. P3: C, D, E (and B, too long ago).
    report(
        client,
        one,
        loan("B-1", B, as_of=iso(clock.now()), phone_token=P1),
        loan("C-1", C, as_of=iso(clock.now()), phone_token=P1),
        loan("C-2", C, as_of=iso(clock.now()), phone_token=P3),
    )
    report(client, two, loan("B-2", B, as_of=iso(clock.now()), phone_token=P2))
    inquire(client, one, D, phone_token=P1)
    inquire(client, one, D, phone_token=P3)
    inquire(client, two, E, phone_token=P3)
    clock.set(NOW)
    hand = {
        B: (2, 3),  # P1, P2; P1 with B, C, D
        C: (2, 3),  # P1, P3; both with 3
        D: (2, 3),
        E: (2, 3),  # P2 (B, E), P3 (C, D, E)
        F: (0, 0),  # P1 seen 91 days ago only
    }
    for borrower, (phones, most) in hand.items():
        result = inquire(client, asker, borrower)
        assert result["identity"] == {"phones_90d": phones, "max_borrowers_per_phone": most}
        assert ("SHARED_PHONE" in [f["code"] for f in result["flags"]]) is (most >= 3)
    # A second later, E's sighting with P2 is 90 days and a second old: E keeps P3 alone.
    clock.set(NOW + timedelta(seconds=1))
    assert inquire(client, asker, E)["identity"] == {"phones_90d": 1, "max_borrowers_per_phone": 3}
    result = inquire(client, asker, B)
    assert [f["detail"] for f in result["flags"] if f["code"] == "SHARED_PHONE"] == [
        "one of this borrower's phones was seen with 3 distinct borrowers in the last 90 days "
        "(threshold 3)"
    ]


def test_a_phone_seen_with_this_borrower_alone_gives_1(client, new_lender):
    lender = new_lender("lender")
    result = inquire(client, lender, B, phone_token=P1)  # counted in its own report
    assert result["identity"] == {"phones_90d": 1, "max_borrowers_per_phone": 1}
    assert "SHARED_PHONE" not in [f["code"] for f in result["flags"]]


def test_sightings_keep_the_first_and_the_latest_moment(client, new_lender, clock, db_session):
    lender = new_lender("lender")
    inquire(client, lender, B, phone_token=P1)
    clock.set(NOW + timedelta(days=3))
    report(client, lender, loan("L", B, as_of=iso(clock.now()), phone_token=P1))
    clock.set(NOW + timedelta(days=1))  # a clock that went back never moves a sighting back
    inquire(client, lender, B, phone_token=P1)
    rows = [
        (row.first_seen_at, row.last_seen_at)
        for model in (BorrowerPhone, PhoneBorrower)
        for row in db_session.scalars(select(model))
    ]
    db_session.rollback()
    assert rows == [(NOW, NOW + timedelta(days=3))] * 2


def test_a_batch_writes_its_phones_in_one_statement_per_table(
    client, new_lender, engine, db_session
):
    lender = new_lender("lender")
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    def tables_written(records: list[dict[str, Any]]) -> list[str]:
        statements.clear()
        event.listen(engine, "before_cursor_execute", record)
        try:
            report(client, lender, *records)
        finally:
            event.remove(engine, "before_cursor_execute", record)
        return sorted(
            name
            for statement in statements
            for name in ("borrower_phones", "phone_borrowers")
            if f"INSERT INTO {name}" in statement
        )

    both = ["borrower_phones", "phone_borrowers"]
    batch = [loan(f"R-{i}", i, phone_token=token(f"p{i % 7}")) for i in range(300)]
    # The same pair twice in a batch is one sighting (an upsert may touch a row only once).
    batch.append(loan("R-dup", 0, phone_token=token("p0")))
    assert tables_written(batch) == both
    assert tables_written([loan("S-1", 1, phone_token=P1), loan("S-2", 2)]) == both
    assert tables_written([loan("T-1", 1)]) == []  # no phone: no statement
    count = len(db_session.scalars(select(PhoneBorrower)).all())
    db_session.rollback()
    assert count == 301


def test_rejected_records_bring_no_sighting(client, new_lender, db_session):
    lender = new_lender("lender")
    answer = report(
        client,
        lender,
        loan("BAD", B, phone_token=P1, days_past_due=-1),
        loan("ALSO-BAD", B, phone_token="not-a-token"),
    )
    assert [r["index"] for r in answer["rejected"]] == [0, 1]
    assert answer["rejected"][1]["errors"] == [
        {
            "field": "loans[1].phone_token",
            "message": "must be a phone token: 64 lower-case hex characters",
        }
    ]
    assert db_session.scalars(select(BorrowerPhone)).all() == []
    db_session.rollback()


def test_a_bad_phone_token_on_an_inquiry_is_a_422(client, new_lender):
    lender = new_lender("lender")
    body = {"borrower": B, "purpose": "new_credit", "consent_ref": "c", "phone_token": P1.upper()}
    response = client.post("/v1/inquiries", json=body, headers=lender.headers)
    assert response.status_code == 422
    assert [e["field"] for e in response.get_json()["errors"]] == ["phone_token"]


def test_phone_tokens_never_appear_anywhere_else(capsys, client, new_lender, clock, db_session):
    """Every answer the API gives in a life cycle with phones, the stored rows of every other
    table and the operators' views: no phone token, as hex or as bytes. (`capsys` first: the
    app's log handler, made with the app, then writes to its stream.)"""
    one, two = new_lender("one"), new_lender("two")
    phones = {P1, P2}
    bodies: list[str] = []

    def keep(response: Any) -> Any:
        bodies.append(response.get_data(as_text=True))
        return response

    records = [loan("L-1", B, phone_token=P1), loan("L-2", C, phone_token=P2)]
    keyed = {**one.headers, "Idempotency-Key": "upload-1"}
    keep(client.post("/v1/loans", json={"loans": records}, headers=keyed))
    keep(client.post("/v1/loans", json={"loans": records}, headers=keyed))  # a replay
    rejected = [loan("L-3", B, phone_token=P2, status="closed", outstanding=5)]
    keep(client.post("/v1/loans", json={"loans": rejected}, headers=one.headers))
    keep(client.get("/v1/loans", headers=one.headers))
    keep(client.get("/v1/loans/L-1", headers=one.headers))
    body = {"borrower": B, "purpose": "new_credit", "consent_ref": "c", "phone_token": P2}
    asked = {**two.headers, "Idempotency-Key": "ask-1"}
    first = keep(client.post("/v1/inquiries", json=body, headers=asked)).get_json()
    keep(client.post("/v1/inquiries", json=body, headers=asked))  # a replay
    keep(client.post("/v1/inquiries", json={**body, "phone_token": P1}, headers=asked))  # 409
    outcome = {"outcome": "approved", "loan_ref": "N-1", "amount": 5, "currency": "CNY"}
    path = f"/v1/inquiries/{first['inquiry_id']}/outcome"
    keep(client.post(path, json=outcome, headers=two.headers))
    keep(client.post("/v1/inquiries", json=body, headers=one.headers))
    keep(client.delete("/v1/loans/L-2", json={"reason": "duplicate"}, headers=one.headers))
    keep(client.get("/openapi.json"))
    assert len(bodies) == 12 and first["identity"]["phones_90d"] == 2
    for text in bodies:
        assert not any(phone in text for phone in phones)

    with transaction(db_session):
        views = [
            lookup.look_up(db_session, B, "a test", NOW, audit.CLI),
            loan_view.loan_record(db_session, "one", "L-1", "a test", NOW, audit.CLI),
        ]
    for view in views:
        assert not any(phone in repr(view) for phone in phones)

    # Stored anywhere but the two sighting tables? Every value of every row, looked at.
    stored = {bytes.fromhex(p) for p in phones}
    for table in Base.metadata.sorted_tables:
        if table.name in ("borrower_phones", "phone_borrowers"):
            continue
        for row in db_session.execute(select(table)):
            for value in row:
                if isinstance(value, bytes):
                    assert value not in stored, table.name
                else:
                    assert not any(phone in str(value) for phone in phones), table.name
    sightings = {row.phone.hex() for row in db_session.scalars(select(BorrowerPhone))}
    db_session.rollback()
    assert sightings == phones
    logged = capsys.readouterr().err
    assert "/v1/inquiries" in logged  # the access log was captured, and holds none
    assert not any(phone in logged for phone in phones)
