"""Issue 10 through the SDK against the live registry (SQLite and PostgreSQL): outcomes
recorded and refused as the SDK's exceptions, an approval seen by another lender at once as a
provisional loan, and phones sent as tokens only (every request captured)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lender_client import (
    ConflictError,
    LoanReport,
    NotABorrowerKindError,
    NotFoundError,
    Outcome,
    RegistryClient,
    ValidationError,
    normalize_id,
)
from registry_protocol.ids import token_input
from tests.sdk.fakes import PEPPER_A, RecordingSession, phone, resident_id

pytestmark = pytest.mark.live

AS_OF = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


@pytest.fixture
def live_key(live_server: Any) -> Any:
    from tests.conftest import create_token_key

    return create_token_key(live_server.app)


def client_for(
    live_server: Any, api_key: str, tmp_path: Path, session: RecordingSession | None = None
) -> RegistryClient:
    return RegistryClient(
        live_server.url,
        api_key,
        timeout=30,
        max_retries=1,
        pepper=PEPPER_A,
        token_cache=tmp_path / f"{api_key[:12]}.sqlite3",
        session=session,
    )


def test_outcomes_are_recorded_once_and_refusals_are_typed(
    live_server: Any, live_key: Any, new_lender: Any, tmp_path: Path
) -> None:
    acme = client_for(live_server, new_lender().api_key, tmp_path)
    other = client_for(live_server, new_lender().api_key, tmp_path)
    applicant = resident_id(301)
    report = acme.inquire(
        id_kind="cn_resident_id",
        id_value=applicant,
        consent_ref="APP-1",
        amount_requested=300_000,
        currency="CNY",
    )
    first = acme.record_outcome(
        report.inquiry_id, "approved", loan_ref="L-1", amount=300_000, currency="CNY"
    )
    assert first.outcome == Outcome.APPROVED and first.inquiry_id == report.inquiry_id
    assert (first.loan_ref, first.amount, first.currency) == ("L-1", 300_000, "CNY")
    assert first.provisional_until is not None
    assert first.provisional_until - first.recorded_at == timedelta(days=14)
    assert first.inquired_at <= first.recorded_at
    # The same again (a retry after a lost answer, say): the same record.
    again = acme.record_outcome(
        report.inquiry_id, Outcome.APPROVED, loan_ref="L-1", amount=300_000, currency="CNY"
    )
    assert again == first

    with pytest.raises(ConflictError):
        acme.record_outcome(report.inquiry_id, "declined")
    with pytest.raises(NotFoundError):
        other.record_outcome(report.inquiry_id, "declined")
    with pytest.raises(NotFoundError):
        acme.record_outcome("no-such-inquiry", "declined")
    second = acme.inquire(id_kind="cn_resident_id", id_value=applicant, consent_ref="APP-2")
    with pytest.raises(ValidationError) as caught:
        acme.record_outcome(second.inquiry_id, "approved", amount=5, currency="CNY")
    assert [e.record_field for e in caught.value.field_errors] == ["loan_ref"]
    with pytest.raises(ValidationError) as caught:
        acme.record_outcome(second.inquiry_id, "withdrawn", loan_ref="L-9")
    assert [e.record_field for e in caught.value.field_errors] == ["loan_ref"]
    withdrawn = acme.record_outcome(second.inquiry_id, "withdrawn")
    assert withdrawn.provisional_until is None and withdrawn.loan_ref is None

    # Another lender sees the approval at once, as a provisional loan of 3,000.00 CNY.
    seen = other.inquire(id_kind="cn_resident_id", id_value=applicant, consent_ref="APP-3")
    assert seen.summary.provisional_loans == 1
    assert seen.summary.provisional_amount == {"CNY": 300_000}
    [line] = seen.tradelines
    assert line.provisional and line.product is None and line.outstanding == 300_000
    assert line.provisional_until == first.provisional_until.date()
    assert seen.summary.other_lenders_inquiring.last_1h == 1


def test_phones_travel_as_tokens_only(
    live_server: Any, live_key: Any, new_lender: Any, tmp_path: Path
) -> None:
    sessions = [RecordingSession(), RecordingSession()]
    acme = client_for(live_server, new_lender().api_key, tmp_path, sessions[0])
    bravo = client_for(live_server, new_lender().api_key, tmp_path, sessions[1])
    numbers = [phone(40), phone(41)]
    people = [resident_id(401), resident_id(402), resident_id(403)]
    reports = [
        LoanReport(
            loan_ref=f"P-{n}",
            id_kind="cn_resident_id",
            id_value=person,
            phone=numbers[0],  # one phone, three borrowers
            product="cash_loan",
            currency="CNY",
            principal=100_000,
            outstanding=100_000,
            opened_on=date.today() - timedelta(days=10),
            due_on=date.today() + timedelta(days=170),
            status="open",
            as_of=AS_OF,
        )
        for n, person in enumerate(people)
    ]
    summary = acme.report_loans(reports)
    assert summary.accepted == 3 and summary.rejected_count == 0
    with pytest.raises(NotABorrowerKindError):
        bravo.inquire(id_kind="phone", id_value=numbers[1], consent_ref="APP-0")
    report = bravo.inquire(
        id_kind="cn_resident_id", id_value=people[0], phone=numbers[1], consent_ref="APP-1"
    )
    assert report.identity is not None
    assert report.identity.phones_90d == 2  # the loan's phone and the inquiry's
    assert report.identity.max_borrowers_per_phone == 3
    assert report.has_flag("SHARED_PHONE")

    sent = b"".join(body for s in sessions for _, _, body in s.sent)
    for number in numbers:
        canonical = normalize_id("phone", number)
        for form in (number, canonical, canonical.removeprefix("+86")):
            assert form.encode() not in sent
        assert token_input("phone", canonical) not in sent
    phone_token = acme.tokenize("phone", numbers[0])
    assert phone_token.encode() in sent  # sent as its token...
    assert phone_token not in str(report.raw)  # ...and never answered back
