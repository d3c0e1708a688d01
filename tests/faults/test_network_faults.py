"""Network faults between the SDK and the registry, through a proxy of the test's own that
drops connections (before and after the registry got the request), resets them, delays answers
past the client's timeout, cuts answers mid-body or in the status line: the SDK retries each
with its idempotency key and ends with the exact final state; no batch is applied twice and
no inquiry is recorded twice."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, func, select

from lender_client import RegistryClient
from registry.models import Inquiry, InquiryKey, Lender
from tests.conftest import LiveServer
from tests.faults.book import as_record, book_line, checksum, loan_row, stored_book, token
from tests.faults.processes import figure
from tests.faults.proxy import FaultyProxy

pytestmark = pytest.mark.faults

RECORDS = 1_000
BATCH = 100
INQUIRIES = 10
READ_TIMEOUT = 2.0
UPLOAD_FAULTS = (
    "drop", "pass", "drop_after", "truncate", "delay", "cut_headers",
    "reset", "drop_after", "slow", "truncate", "pass", "drop_after",
)  # fmt: skip
INQUIRY_FAULTS = (
    "drop_after", "truncate", "pass", "delay", "drop_after", "reset",
    "cut_headers", "pass", "drop_after", "truncate",
)  # fmt: skip


@pytest.fixture
def proxy(live_server: LiveServer) -> Iterator[FaultyProxy]:
    host, port = live_server.url.removeprefix("http://").split(":")
    faulty = FaultyProxy((host, int(port)), delay=READ_TIMEOUT + 0.5)
    yield faulty
    faulty.close()


def test_uploads_and_inquiries_through_a_faulty_network(
    proxy: FaultyProxy, new_lender, database_url: str, database_engine: Engine
) -> None:
    lender = new_lender("netfaults")
    rows = [loan_row(i, prefix="N") for i in range(RECORDS)]
    client = RegistryClient(
        proxy.url,
        lender.api_key,
        timeout=(2.0, READ_TIMEOUT),
        retry_for=30,
        backoff_base=0.05,
        backoff_cap=0.5,
    )
    with client:
        proxy.faults(*UPLOAD_FAULTS)
        summary = client.report_loans((as_record(r) for r in rows), batch_size=BATCH)
        upload_retries = client.retry_stats.retries
        proxy.faults(*INQUIRY_FAULTS)
        answers = [
            client.inquire(token(n), consent_ref=f"NET-{n}").inquiry_id for n in range(INQUIRIES)
        ]
    applied = proxy.applied()
    assert sorted(set(applied)) == sorted(set(UPLOAD_FAULTS + INQUIRY_FAULTS) - {"pass"})

    # The SDK's own account is exact: every record accepted once, nothing else.
    assert summary.accepted == RECORDS and summary.unchanged == summary.stale == 0
    assert summary.rejected_count == 0 and len(summary.submission_ids) == RECORDS // BATCH
    stored = stored_book(database_url, "netfaults")
    assert stored.loans == RECORDS and stored.checksum == checksum(book_line(r) for r in rows)
    assert stored.history_rows == RECORDS and stored.history_mismatches == 0
    assert stored.submissions == RECORDS // BATCH and stored.accepted == RECORDS

    assert len(set(answers)) == INQUIRIES
    with database_engine.connect() as conn:
        lender_id = conn.scalar(select(Lender.id).where(Lender.code == "netfaults"))
        recorded = conn.scalar(
            select(func.count()).select_from(Inquiry).where(Inquiry.lender_id == lender_id)
        )
        keys = conn.scalar(
            select(func.count()).select_from(InquiryKey).where(InquiryKey.lender_id == lender_id)
        )
    assert recorded == keys == INQUIRIES  # each once, whatever the network did
    figure(
        f"network faults through a proxy ({database_engine.dialect.name})",
        requests_seen=len(proxy.seen),
        faults=len(applied),
        upload_retries=upload_retries,
        inquiry_retries=client.retry_stats.retries - upload_retries,
        records_checked=stored.loans,
        inquiries_recorded=recorded,
    )
