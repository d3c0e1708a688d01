"""The lender client SDK against the real registry over HTTP (SQLite and PostgreSQL)."""

from __future__ import annotations

import contextlib
import re
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from lender_client import (
    AuthenticationError,
    BatchResult,
    ConflictError,
    FlagCode,
    LoanReport,
    LoanStatus,
    NotFoundError,
    PaymentFrequency,
    PermissionDeniedError,
    Product,
    Purpose,
    RegistryClient,
    RetractionReason,
    SpecialEvent,
    ValidationError,
)
from registry.models import Inquiry
from tests.helpers import token

pytestmark = pytest.mark.live

TODAY = datetime.now(UTC).date()
AS_OF = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def loan_report(ref: str, borrower: int | str = 1, **overrides: Any) -> LoanReport:
    values: dict[str, Any] = {
        "loan_ref": ref,
        "borrower": token(borrower),
        "product": Product.CASH_LOAN,
        "currency": "CNY",
        "principal": 1_000_000,
        "outstanding": 800_000,
        "opened_on": TODAY - timedelta(days=90),
        "due_on": TODAY + timedelta(days=275),
        "status": LoanStatus.OPEN,
        "days_past_due": 0,
        "as_of": AS_OF,
    }
    values.update(overrides)
    return LoanReport(**values)


@pytest.fixture
def connect(live_server: Any) -> Iterator[Callable[[str], RegistryClient]]:
    clients: list[RegistryClient] = []

    def make(api_key: str) -> RegistryClient:
        client = RegistryClient(live_server.url, api_key, timeout=30, max_retries=1)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def lender_client(new_lender: Any, connect: Callable[[str], RegistryClient]) -> RegistryClient:
    return connect(new_lender().api_key)


def test_report_then_get_loan_round_trip(lender_client: RegistryClient) -> None:
    sent = loan_report(
        "L-2026/0001 a",
        due_on=None,
        product=Product.CREDIT_LINE,
        credit_limit=2_000_000,
        amount_past_due=0,
        scheduled_payment=50_000,
        payment_frequency=PaymentFrequency.MONTHLY,
    )
    summary = lender_client.report_loans([sent])
    assert (summary.accepted, summary.unchanged, summary.stale, summary.rejected_count) == (
        1,
        0,
        0,
        0,
    )
    assert summary.ok and len(summary.submission_ids) == 1

    loan = lender_client.get_loan("L-2026/0001 a")
    assert loan.to_report() == sent
    assert loan.product is Product.CREDIT_LINE and loan.due_on is None
    assert loan.first_reported_at is not None and loan.last_reported_at is not None
    assert loan.raw["loan_ref"] == "L-2026/0001 a"


def test_large_stream_in_batches_then_rerun_is_unchanged(lender_client: RegistryClient) -> None:
    def reports() -> Iterator[LoanReport]:
        for i in range(2_500):
            yield loan_report(f"L-{i:05d}", borrower=i)

    batches: list[BatchResult] = []
    summary = lender_client.report_loans(reports(), batch_size=1000, on_batch=batches.append)
    assert summary.records == 2_500 and summary.batches == 3
    assert [b.size for b in batches] == [1000, 1000, 500]
    assert [b.start_index for b in batches] == [0, 1000, 2000]
    assert summary.accepted == 2_500 and summary.rejected_count == 0
    assert len(set(summary.submission_ids)) == 3
    assert len({b.idempotency_key for b in batches}) == 3

    again = lender_client.report_loans(reports(), batch_size=1000)
    assert (again.accepted, again.unchanged, again.stale) == (0, 2_500, 0)


def test_rejections_are_mapped_to_the_position_in_the_whole_stream(
    lender_client: RegistryClient,
) -> None:
    def reports() -> Iterator[LoanReport | dict[str, Any]]:
        for i in range(1_200):
            if i == 5:
                yield {**loan_report(f"L-{i}").to_json(), "product": "spaceship"}
            elif i == 1_100:
                yield loan_report(f"L-{i}", due_on=TODAY - timedelta(days=365))
            else:
                yield loan_report(f"L-{i}", borrower=i)

    summary = lender_client.report_loans(reports(), batch_size=500)
    assert summary.accepted == 1_198 and summary.rejected_count == 2
    first, second = summary.rejected
    assert (first.index, first.loan_ref, first.batch) == (5, "L-5", 0)
    assert [e.field for e in first.errors] == ["product"]
    assert (second.index, second.loan_ref, second.batch) == (1_100, "L-1100", 2)
    assert [e.field for e in second.errors] == ["due_on"]
    assert second.errors[0].message


def test_older_report_is_stale(lender_client: RegistryClient) -> None:
    lender_client.report_loans([loan_report("L-1")])
    older = loan_report("L-1", outstanding=900_000, as_of=AS_OF - timedelta(days=1))
    summary = lender_client.report_loans([older])
    assert (summary.accepted, summary.stale) == (0, 1)
    assert lender_client.get_loan("L-1").outstanding == 800_000


def test_same_idempotency_key_replays_and_other_body_conflicts(
    lender_client: RegistryClient,
) -> None:
    first = lender_client.submit_batch([loan_report("L-1")], idempotency_key="batch-7")
    replay = lender_client.submit_batch([loan_report("L-1")], idempotency_key="batch-7")
    assert replay.submission_id == first.submission_id and replay.accepted == 1
    with pytest.raises(ConflictError) as info:
        lender_client.submit_batch([loan_report("L-2")], idempotency_key="batch-7")
    assert info.value.status == 409 and not info.value.in_progress
    assert info.value.problem_type == "/problems/idempotency-conflict"


def test_get_loan_reaches_any_reference_intact(lender_client: RegistryClient) -> None:
    refs = [".", "..", "a/b", "a?b#c", "100%", "贷 1", "%2E", "v1"]
    lender_client.report_loans(
        [loan_report(ref, borrower=n, outstanding=1_000 + n) for n, ref in enumerate(refs)]
    )
    for n, ref in enumerate(refs):
        loan = lender_client.get_loan(ref)
        assert (loan.loan_ref, loan.outstanding) == (ref, 1_000 + n)
    with pytest.raises(NotFoundError):
        lender_client.get_loan("...")


def test_iter_loans_pages_through_everything(lender_client: RegistryClient) -> None:
    reports = [loan_report(f"L-{i:03d}", borrower=i) for i in range(250)]
    closed = {f"L-{i:03d}" for i in range(0, 250, 10)}
    reports = [
        loan_report(
            r.loan_ref,
            borrower=i,
            status=LoanStatus.CLOSED,
            outstanding=0,
            closed_on=AS_OF.date(),
        )
        if r.loan_ref in closed
        else r
        for i, r in enumerate(reports)
    ]
    lender_client.report_loans(reports)
    refs = [loan.loan_ref for loan in lender_client.iter_loans(page_size=40)]
    assert sorted(refs) == sorted(r.loan_ref for r in reports)
    assert len(refs) == len(set(refs)) == 250
    closed_refs = {loan.loan_ref for loan in lender_client.iter_loans(status="closed")}
    assert closed_refs == closed
    page = lender_client.list_loans(status=LoanStatus.OPEN, limit=7)
    assert len(page.data) == 7 and page.next_cursor


def test_inquiry_reports_multi_lender(
    new_lender: Any, connect: Callable[[str], RegistryClient]
) -> None:
    holders = [connect(new_lender().api_key) for _ in range(3)]
    for n, client in enumerate(holders):
        client.report_loans(
            [loan_report(f"L-{n}", borrower="applicant", outstanding=100_000 * (n + 1))]
        )
    asker = connect(new_lender().api_key)
    report = asker.inquire(
        token("applicant"),
        consent_ref="APP-2026-0001",
        amount_requested=500_000,
        currency="CNY",
    )
    assert report.borrower == token("applicant")
    assert report.purpose is Purpose.NEW_CREDIT
    assert report.summary.open_loans == 3
    assert report.summary.lenders_with_open_loans == 3
    assert report.summary.other_lenders_with_open_loans == 3
    assert report.summary.outstanding == {"CNY": 600_000}
    assert report.own.open_loans == 0
    assert report.has_flag(FlagCode.MULTI_LENDER)
    assert report.raw["inquiry_id"] == report.inquiry_id

    # The first holder sees the same position, with its own part split out, and sees the
    # other lender's inquiry.
    mine = holders[0].inquire(token("applicant"), purpose=Purpose.ACCOUNT_REVIEW)
    assert mine.own.open_loans == 1 and mine.own.outstanding == {"CNY": 100_000}
    assert mine.summary.other_lenders_with_open_loans == 2
    assert mine.summary.other_lenders_inquiring.last_1d == 1


def count_inquiries(db_session: Any) -> int:
    count: int = db_session.scalar(select(func.count()).select_from(Inquiry))
    db_session.rollback()  # end the read transaction, so that the next count sees new rows
    return count


def test_same_inquiry_key_and_arguments_get_the_same_report(
    lender_client: RegistryClient, db_session: Any
) -> None:
    args: dict[str, Any] = {"consent_ref": "APP-1", "amount_requested": 500_000, "currency": "CNY"}
    first = lender_client.inquire(token(1), **args, idempotency_key="app-1-inquiry")
    again = lender_client.inquire(token(1), **args, idempotency_key="app-1-inquiry")
    assert again.inquiry_id == first.inquiry_id and again.raw == first.raw
    assert count_inquiries(db_session) == 1

    with pytest.raises(ConflictError) as info:
        lender_client.inquire(
            token(1), **{**args, "amount_requested": 1}, idempotency_key="app-1-inquiry"
        )
    assert info.value.problem_type == "/problems/idempotency-conflict"
    # A key names one request of the lender: the same key for another borrower conflicts.
    with pytest.raises(ConflictError):
        lender_client.inquire(token(2), **args, idempotency_key="app-1-inquiry")
    assert count_inquiries(db_session) == 1


class LoseFirstResponseProxy:
    """A TCP proxy on 127.0.0.1 in front of ``upstream``. The first connection's request is
    forwarded, and once the answer starts coming back the connection is closed without
    relaying it: the request was served, its response lost. Later connections are relayed
    both ways, keeping what went each way in ``requests`` and ``responses``."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self.requests: list[bytearray] = []
        self.responses: list[bytearray] = []
        self._sockets: list[socket.socket] = [self._listener]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        first = True
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            upstream = socket.create_connection(self._upstream, timeout=30)
            self._sockets += [client, upstream]
            request, response = bytearray(), bytearray()
            self.requests.append(request)
            self.responses.append(response)
            if first:
                first = False
                request += _read_http_request(client)
                upstream.sendall(request)
                response += upstream.recv(1)  # the registry has answered...
                client.close()  # ...and the client never hears it
                upstream.close()
                continue
            for source, target, kept in ((client, upstream, request), (upstream, client, response)):
                threading.Thread(target=_relay, args=(source, target, kept), daemon=True).start()

    def close(self) -> None:
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.close()
        self._thread.join(5)


def _read_http_request(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "the client closed before sending a whole request"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    match = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    length = int(match.group(1)) if match else 0
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "the client closed in the middle of the body"
        body += chunk
    return head + b"\r\n\r\n" + body


def _relay(source: socket.socket, target: socket.socket, kept: bytearray) -> None:
    with contextlib.suppress(OSError):
        while chunk := source.recv(65536):
            kept += chunk
            target.sendall(chunk)
    with contextlib.suppress(OSError):
        target.shutdown(socket.SHUT_WR)


def test_inquiry_whose_response_is_lost_is_retried_and_recorded_once(
    live_server: Any, new_lender: Any, db_session: Any
) -> None:
    proxy = LoseFirstResponseProxy(live_server.url)
    client = RegistryClient(
        proxy.url, new_lender().api_key, timeout=30, max_retries=2, sleep=lambda _: None
    )
    try:
        with client:
            report = client.inquire(
                token(7), consent_ref="APP-7", amount_requested=100, currency="CNY"
            )
    finally:
        proxy.close()
    assert report.borrower == token(7) and report.summary.open_loans == 0
    assert count_inquiries(db_session) == 1

    assert len(proxy.requests) == 2
    keys = [re.findall(rb"(?im)^idempotency-key: *(\S+)", bytes(r)) for r in proxy.requests]
    assert keys[0] == keys[1] and len(keys[0]) == 1
    assert proxy.responses[0].startswith(b"H")  # the first request was answered, unheard
    assert b"idempotent-replayed: true" in proxy.responses[1].lower()
    assert report.inquiry_id.encode() in proxy.responses[1]


def test_inquiry_without_consent_is_a_validation_error(lender_client: RegistryClient) -> None:
    with pytest.raises(ValidationError) as info:
        lender_client.inquire(token(1))
    assert info.value.status == 422
    assert "consent_ref" in [e.field for e in info.value.field_errors]


def test_bad_api_key_is_an_authentication_error(live_server: Any) -> None:
    client = RegistryClient(live_server.url, "not-a-real-key")
    with client, pytest.raises(AuthenticationError) as info:
        client.get_loan("L-1")
    assert info.value.status == 401 and info.value.request_id
    assert "not-a-real-key" not in str(info.value)


def test_another_lenders_loan_is_not_found(
    new_lender: Any, connect: Callable[[str], RegistryClient]
) -> None:
    owner = connect(new_lender().api_key)
    other = connect(new_lender().api_key)
    owner.report_loans([loan_report("SHARED-REF")])
    with pytest.raises(NotFoundError) as info:
        other.get_loan("SHARED-REF")
    assert info.value.status == 404 and info.value.problem_type == "/problems/not-found"


def test_suspended_lender_is_denied(
    new_lender: Any, suspend_lender: Callable[[str], None], connect: Callable[[str], RegistryClient]
) -> None:
    lender = new_lender()
    client = connect(lender.api_key)
    client.report_loans([loan_report("L-1")])
    suspend_lender(lender.code)
    with pytest.raises(PermissionDeniedError) as info:
        client.report_loans([loan_report("L-2")])
    assert info.value.status == 403
    assert info.value.partial_summary is not None and info.value.partial_summary.records == 0


def test_health_and_readiness(lender_client: RegistryClient) -> None:
    assert isinstance(lender_client.health(), dict)
    assert lender_client.ready() is True


def test_opened_on_boundaries_are_dates(lender_client: RegistryClient) -> None:
    sent = loan_report("L-date", opened_on=date(2020, 2, 29), due_on=date(2030, 2, 28))
    lender_client.report_loans([sent])
    got = lender_client.get_loan("L-date")
    assert (got.opened_on, got.due_on) == (date(2020, 2, 29), date(2030, 2, 28))


def test_correct_and_retract_against_the_registry(lender_client: RegistryClient) -> None:
    sent = loan_report("FIX-1", amount_past_due=0)
    assert lender_client.report_loans([sent]).accepted == 1
    # The same as_of with other content: refused as a report, applied as a correction.
    wrong = loan_report("FIX-1", outstanding=700_000, amount_past_due=0)
    refused = lender_client.report_loans([wrong])
    assert [e.field for r in refused.rejected for e in r.errors] == ["as_of"]
    corrected = lender_client.correct(wrong)
    assert (corrected.accepted, corrected.rejected_count) == (1, 0)
    assert lender_client.get_loan("FIX-1").outstanding == 700_000

    tombstone = lender_client.retract("FIX-1", RetractionReason.WRONG_BORROWER)
    assert tombstone.loan_ref == "FIX-1" and tombstone.reason is RetractionReason.WRONG_BORROWER
    assert tombstone.retracted_at <= datetime.now(UTC)
    with pytest.raises(NotFoundError):
        lender_client.get_loan("FIX-1")
    with pytest.raises(NotFoundError) as again:
        lender_client.retract("FIX-1", "wrong_borrower")
    assert type(again.value) is NotFoundError  # not retried: the first answer was not lost
    # The reference can be reported anew, under the right borrower.
    assert lender_client.report_loans([loan_report("FIX-1", borrower=2)]).accepted == 1
    assert lender_client.get_loan("FIX-1").borrower == token(2)


def test_warnings_and_new_fields_against_the_registry(lender_client: RegistryClient) -> None:
    overdue = loan_report(
        "W-1", opened_on=TODAY - timedelta(days=200), due_on=TODAY - timedelta(days=30)
    )
    line = loan_report(
        "W-2",
        product=Product.CREDIT_LINE,
        due_on=None,
        credit_limit=3_000_000,
        outstanding=900_000,
        days_past_due=35,
        amount_past_due=120_000,
        scheduled_payment=90_000,
        payment_frequency=PaymentFrequency.MONTHLY,
    )
    closed = loan_report(
        "W-3",
        status=LoanStatus.CLOSED,
        outstanding=0,
        closed_on=AS_OF.date() - timedelta(days=3),
        special_event=SpecialEvent.SETTLED_FOR_LESS,
    )
    no_limit = loan_report("W-4", product=Product.CREDIT_LINE, due_on=None)
    summary = lender_client.report_loans([overdue, line, closed, no_limit])
    assert (summary.accepted, summary.rejected_count) == (3, 1)
    assert [(r.index, [e.field for e in r.errors]) for r in summary.rejected] == [
        (3, ["credit_limit"])
    ]
    assert [(w.index, w.loan_ref, w.field) for w in summary.warnings] == [
        (0, "W-1", "days_past_due")
    ]
    held = lender_client.get_loan("W-2")
    assert (held.credit_limit, held.amount_past_due, held.payment_frequency) == (
        3_000_000,
        120_000,
        PaymentFrequency.MONTHLY,
    )
    closed_held = lender_client.get_loan("W-3")
    assert closed_held.closed_on == AS_OF.date() - timedelta(days=3)
    assert closed_held.special_event is SpecialEvent.SETTLED_FOR_LESS
