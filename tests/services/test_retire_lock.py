"""A write that reads a borrower's token from an inquiry (an application's outcome, a dispute)
waits for a token rotation's retire that holds every lender row, then reads the token the
retire left: its row never lands under a retired token (PostgreSQL, real commits)."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import Engine, select, text, update

from registry.db import make_session_factory, transaction
from registry.models import ApplicationOutcome, Inquiry, Lender, Outcome
from registry.services.applications import OutcomeRequest, record_outcome
from tests.helpers import NOW, token

pytestmark = [pytest.mark.committed, pytest.mark.postgres]
OLD, NEW = token("before the retire"), token("after the retire")


def test_an_outcome_waits_for_the_retire_and_lands_under_the_next_token(
    engine: Engine, client, new_lender
):
    lender = new_lender("owner")
    inquiry = {"borrower": OLD, "purpose": "new_credit", "consent_ref": "c-1"}
    inquiry_id = client.post("/v1/inquiries", json=inquiry, headers=lender.headers).get_json()[
        "inquiry_id"
    ]
    sessions = make_session_factory(engine)
    recorded: list[bytes] = []

    def record() -> None:
        session = sessions()
        try:
            with transaction(session):
                request = OutcomeRequest(Outcome.APPROVED, "L-1", 100_000, "CNY")
                record_outcome(session, lender.id, inquiry_id, request, NOW)
        finally:
            session.close()
        with sessions() as session:
            recorded.extend(session.scalars(select(ApplicationOutcome.borrower)))

    with engine.connect() as retire:
        # What `keys retire` holds while it moves each table to the next tokens.
        retire.execute(select(Lender.id).order_by(Lender.id).with_for_update())
        writer = threading.Thread(target=record)
        writer.start()
        time.sleep(0.5)
        assert writer.is_alive(), "the outcome did not wait for the retire"
        retire.execute(
            update(Inquiry).where(Inquiry.id == inquiry_id).values(borrower=bytes.fromhex(NEW))
        )
        retire.execute(text("COMMIT"))
        writer.join(timeout=30)
    assert recorded == [bytes.fromhex(NEW)]
