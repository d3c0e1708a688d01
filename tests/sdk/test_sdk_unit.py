"""Unit tests of the lender client that need no registry: models, file readers, retry policy,
error mapping, and the HTTP behaviour against a scripted server on a loopback port."""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from lender_client import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    ConfigurationError,
    ConflictError,
    FlagCode,
    LoanReport,
    LoanStatus,
    NotFoundError,
    PermissionDeniedError,
    Product,
    RateLimitError,
    RegistryClient,
    RegistryError,
    ServerError,
    UnexpectedResponseError,
    ValidationError,
    backoff_delay,
    format_money,
    is_retryable,
    parse_retry_after,
)
from lender_client.cli import cli
from lender_client.errors import FieldError, error_from_response
from lender_client.files import (
    BadLine,
    CsvReader,
    FileFormatError,
    JsonLinesReader,
    SourceRecord,
    detect_format,
    open_records,
)

API_KEY = "rk_test_SECRET_0123456789abcdef"
TOKEN = "ab" * 32
AS_OF = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def report(n: int = 1, **overrides: Any) -> LoanReport:
    values: dict[str, Any] = {
        "loan_ref": f"L-{n}",
        "borrower": TOKEN,
        "product": Product.CASH_LOAN,
        "currency": "CNY",
        "principal": 500_000,
        "outstanding": 320_000,
        "opened_on": date(2026, 3, 1),
        "due_on": date(2027, 3, 1),
        "status": LoanStatus.OPEN,
        "days_past_due": 0,
        "as_of": AS_OF,
    }
    values.update(overrides)
    return LoanReport(**values)


# -- models ----------------------------------------------------------------------------------


def test_loan_report_to_json() -> None:
    assert report().to_json() == {
        "loan_ref": "L-1",
        "borrower": TOKEN,
        "product": "cash_loan",
        "currency": "CNY",
        "principal": 500_000,
        "outstanding": 320_000,
        "opened_on": "2026-03-01",
        "due_on": "2027-03-01",
        "status": "open",
        "days_past_due": 0,
        "as_of": "2026-11-20T10:00:00Z",
    }
    # The JSON is plain: it survives json.dumps without a custom encoder.
    json.dumps(report().to_json())


def test_loan_report_converts_as_of_to_utc_and_keeps_microseconds() -> None:
    east8 = timezone(timedelta(hours=8))
    data = report(as_of=datetime(2026, 11, 20, 18, 0, 0, 123456, tzinfo=east8)).to_json()
    assert data["as_of"] == "2026-11-20T10:00:00.123456Z"


def test_loan_report_due_on_optional_and_plain_strings_accepted() -> None:
    data = report(product="credit_line", status="open", due_on=None).to_json()
    assert data["due_on"] is None
    assert data["product"] == "credit_line"


def test_loan_report_rejects_naive_datetime() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        report(as_of=datetime(2026, 11, 20, 10, 0))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("principal", "500000"),
        ("principal", 12.5),
        ("days_past_due", True),
        ("opened_on", "2026-03-01"),
        ("opened_on", datetime(2026, 3, 1, tzinfo=UTC)),
        ("due_on", "2027-03-01"),
        ("as_of", "2026-11-20T10:00:00Z"),
        ("loan_ref", 17),
    ],
)
def test_loan_report_type_checks(name: str, value: Any) -> None:
    with pytest.raises(TypeError, match=name):
        report(**{name: value})


def test_loan_report_from_json_round_trip() -> None:
    original = report(due_on=None, product="credit_line")
    assert LoanReport.from_json(original.to_json()) == original


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        (1_234_567, "CNY", "12,345.67 CNY"),
        (5, "CNY", "0.05 CNY"),
        (0, "USD", "0.00 USD"),
        (-150, "EUR", "-1.50 EUR"),
        (1234, "JPY", "1,234 JPY"),
        (1234, "KWD", "1.234 KWD"),
    ],
)
def test_format_money(amount: int, currency: str, text: str) -> None:
    assert format_money(amount, currency) == text


# -- file readers ----------------------------------------------------------------------------

HEADER = (
    "loan_ref,borrower,product,currency,principal,outstanding,opened_on,due_on,status,"
    "days_past_due,as_of"
)


def csv_row(ref: str, **overrides: str) -> str:
    values = {
        "loan_ref": ref,
        "borrower": TOKEN,
        "product": "cash_loan",
        "currency": "CNY",
        "principal": "500000",
        "outstanding": "320000",
        "opened_on": "2026-03-01",
        "due_on": "2027-03-01",
        "status": "open",
        "days_past_due": "0",
        "as_of": "2026-11-20T10:00:00Z",
    }
    values.update(overrides)
    return ",".join(values[name] for name in HEADER.split(","))


def read_csv(text: str | bytes) -> list[SourceRecord | BadLine]:
    data = text.encode() if isinstance(text, str) else text
    return list(CsvReader(io.BytesIO(data)))


def read_jsonl(text: str | bytes) -> list[SourceRecord | BadLine]:
    data = text.encode() if isinstance(text, str) else text
    return list(JsonLinesReader(io.BytesIO(data)))


def test_csv_reads_records_with_types_and_line_numbers() -> None:
    text = "\n".join([HEADER, csv_row("A"), csv_row("B", due_on="", product="credit_line")])
    items = read_csv(text + "\n")
    assert [type(i) for i in items] == [SourceRecord, SourceRecord]
    first, second = items
    assert isinstance(first, SourceRecord) and isinstance(second, SourceRecord)
    assert first.line == 2 and second.line == 3
    assert first.data == report(1, loan_ref="A").to_json()
    assert second.data["due_on"] is None
    assert second.data["principal"] == 500_000
    assert second.loan_ref == "B"


def test_csv_unparseable_integer_is_sent_as_text() -> None:
    (item,) = read_csv(f"{HEADER}\n{csv_row('A', principal='12a', days_past_due=' 3 ')}\n")
    assert isinstance(item, SourceRecord)
    assert item.data["principal"] == "12a"
    assert item.data["days_past_due"] == 3


def test_csv_bad_rows_are_reported_and_reading_goes_on() -> None:
    lines = [
        HEADER,
        csv_row("A"),
        "B,too,few,columns",
        "",
        csv_row("C"),
        csv_row("D") + ",extra",
        csv_row("E"),
    ]
    items = read_csv("\r\n".join(lines) + "\r\n")
    summary = [(i.line, i.loan_ref, type(i).__name__) for i in items]
    assert summary == [
        (2, "A", "SourceRecord"),
        (3, "B", "BadLine"),
        (5, "C", "SourceRecord"),
        (6, "D", "BadLine"),
        (7, "E", "SourceRecord"),
    ]
    bad = items[1]
    assert isinstance(bad, BadLine)
    assert bad.message == "expected 11 columns, found 4"


def test_csv_quotes_hold_commas_but_a_stray_quote_spoils_only_its_line() -> None:
    quoted = csv_row("A", loan_ref='"A,""1"""')
    stray = csv_row("B", loan_ref='"B')
    after_text = csv_row("C", loan_ref='"C"x')
    text = "\n".join([HEADER, quoted, stray, after_text, csv_row("D")]) + "\n"
    items = read_csv(text)
    assert [(i.line, type(i).__name__) for i in items] == [
        (2, "SourceRecord"),
        (3, "BadLine"),
        (4, "BadLine"),
        (5, "SourceRecord"),
    ]
    assert items[0].loan_ref == 'A,"1"'
    assert isinstance(items[1], BadLine)
    assert items[1].message == "unreadable CSV line: a quoted field is not closed on this line"
    assert items[-1].loan_ref == "D"


def test_csv_overlong_line_is_skipped_as_a_bad_line() -> None:
    from lender_client.files import MAX_LINE_BYTES

    long_line = "x" * (3 * MAX_LINE_BYTES + 10)
    text = "\n".join([HEADER, csv_row("A"), long_line, csv_row("B")]) + "\n"
    items = read_csv(text)
    assert [(i.line, type(i).__name__) for i in items] == [
        (2, "SourceRecord"),
        (3, "BadLine"),
        (4, "SourceRecord"),
    ]
    assert isinstance(items[1], BadLine) and "longer than" in items[1].message


def test_csv_byte_order_mark_and_column_order_and_missing_due_on_column() -> None:
    header = (
        "as_of,loan_ref,borrower,product,currency,principal,outstanding,opened_on,status,"
        "days_past_due"
    )
    row = f"2026-11-20T10:00:00Z,A,{TOKEN},credit_line,CNY,1,1,2026-01-01,open,0"
    (item,) = read_csv(b"\xef\xbb\xbf" + f"{header}\n{row}\n".encode())
    assert isinstance(item, SourceRecord)
    assert item.data["loan_ref"] == "A"
    assert "due_on" not in item.data


def test_csv_invalid_utf8_row_is_a_bad_line() -> None:
    data = f"{HEADER}\n".encode() + csv_row("A").encode().replace(b"A", b"\xff", 1) + b"\n"
    data += csv_row("B").encode() + b"\n"
    items = read_csv(data)
    assert isinstance(items[0], BadLine) and items[0].line == 2
    assert "UTF-8" in items[0].message
    assert isinstance(items[1], SourceRecord) and items[1].line == 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("loan_ref,borrower,due_date\n", "unknown column"),
        ("loan_ref,borrower\n", "missing column"),
        (HEADER + ",loan_ref\n", "named twice"),
    ],
)
def test_csv_bad_header_is_a_file_error(text: str, message: str) -> None:
    with pytest.raises(FileFormatError, match=message):
        read_csv(text)


def test_jsonl_reads_objects_and_reports_bad_lines() -> None:
    good = json.dumps(report().to_json())
    lines = [good, "", "{not json", "[1, 2]", '{"principal": NaN}', "   ", good]
    items = read_jsonl("\n".join(lines) + "\n")
    assert [(i.line, type(i).__name__) for i in items] == [
        (1, "SourceRecord"),
        (3, "BadLine"),
        (4, "BadLine"),
        (5, "BadLine"),
        (7, "SourceRecord"),
    ]
    assert isinstance(items[1], BadLine) and items[1].message.startswith("invalid JSON")
    assert isinstance(items[2], BadLine) and "an array" in items[2].message
    assert isinstance(items[3], BadLine) and "NaN" in items[3].message


def test_jsonl_invalid_utf8_and_no_final_newline() -> None:
    items = read_jsonl(b'{"loan_ref": "\xff"}\n{"loan_ref": "B"}')
    assert isinstance(items[0], BadLine) and "UTF-8" in items[0].message
    assert isinstance(items[1], SourceRecord) and items[1].data == {"loan_ref": "B"}


def test_jsonl_lone_surrogates_are_bad_lines_with_their_field() -> None:
    good = report().to_json()
    lines = [
        json.dumps({**good, "loan_ref": "\ud800"}),  # ensure_ascii: the escape as a file has it
        json.dumps({**good, "loan_ref": "L-2", "currency": "CN\udfff"}),
        json.dumps({**good, "loan_ref": "L-3", "\udc80": 1}),
        json.dumps({**good, "loan_ref": "L-4", "extra": [{"deep": "\ud83d"}]}),
        json.dumps({**good, "loan_ref": "L-5 \U0001f600"}),  # a surrogate pair: fine
        json.dumps({**good, "loan_ref": "L-6"}),
    ]
    assert "\\ud800" in lines[0]
    items = read_jsonl("\n".join(lines) + "\n")
    bad = [(i.line, i.loan_ref, i.field) for i in items if isinstance(i, BadLine)]
    assert bad == [
        (1, None, "loan_ref"),
        (2, "L-2", "currency"),
        (3, "L-3", ""),
        (4, "L-4", "extra"),
    ]
    messages = [i.message for i in items if isinstance(i, BadLine)]
    assert messages[0] == "is not valid Unicode text: it holds the unpaired surrogate \\ud800"
    assert messages[2].startswith("a member name is not valid Unicode text")
    assert "\\ud83d" in messages[3]
    records = [i for i in items if isinstance(i, SourceRecord)]
    assert [(r.line, r.loan_ref) for r in records] == [(5, "L-5 \U0001f600"), (6, "L-6")]
    # What a bad line says can be written out (to the rejects file): no lone surrogate in it.
    for item in items:
        if isinstance(item, BadLine):
            f"{item.message} {item.loan_ref} {item.field}".encode()


def test_jsonl_lines_that_parse_but_cannot_be_sent_are_bad_lines() -> None:
    from lender_client.files import MAX_DEPTH

    def nested(depth: int) -> Any:
        value: Any = "x"
        for _ in range(depth):
            value = [value]
        return value

    lines = [
        '{"loan_ref": "A", "principal": 1e400}',
        '{"loan_ref": "B", "principal": -1E999}',
        json.dumps({"loan_ref": "C", "x": nested(MAX_DEPTH)}),
        json.dumps({"loan_ref": "D", "x": nested(MAX_DEPTH + 1)}),
        "[" * 200_000,
        '{"loan_ref": "F", "principal": 1.5, "note": "[{"}',
    ]
    items = read_jsonl("\n".join(lines) + "\n")
    assert [i.line for i in items if isinstance(i, SourceRecord)] == [3, 6]
    bad = {i.line: i for i in items if isinstance(i, BadLine)}
    assert sorted(bad) == [1, 2, 4, 5]
    assert bad[1].message == "invalid JSON: the number 1e400 is too large"
    assert (bad[4].line, bad[4].loan_ref, bad[4].field) == (4, "D", "x")
    assert bad[4].message == f"is nested more than {MAX_DEPTH} levels deep"
    assert bad[5].message == "invalid JSON: nested too deeply"


def test_truncated_gzip_ends_with_a_bad_line(tmp_path: Path) -> None:
    lines = [json.dumps(report(i).to_json()) for i in range(2_000)]
    whole = gzip.compress(("\n".join(lines) + "\n").encode())
    path = tmp_path / "book.jsonl.gz"
    path.write_bytes(whole[: len(whole) // 2])
    with open_records(str(path)) as reader:
        items = list(reader)
    *records, last = items
    assert records and all(isinstance(i, SourceRecord) for i in records)
    assert [i.line for i in records] == list(range(1, len(records) + 1))
    assert isinstance(last, BadLine) and last.line == len(records) + 1
    assert "damaged or cut short" in last.message

    path.write_bytes(whole[:15])  # not even the first line can be decompressed
    with pytest.raises(FileFormatError, match="damaged or cut short"), open_records(str(path)):
        pass


def test_reader_counts_bytes_for_progress() -> None:
    data = (HEADER + "\n" + csv_row("A") + "\n").encode()
    reader = CsvReader(io.BytesIO(data), total_bytes=len(data))
    list(reader)
    assert reader.position == len(data)


def test_detect_format() -> None:
    assert detect_format("book.csv", b"{") == "csv"
    assert detect_format("book.JSONL", b"loan_ref") == "jsonl"
    assert detect_format("book.ndjson.gz", b"") == "jsonl"
    assert detect_format("", b'\n  {"loan_ref": 1}') == "jsonl"
    assert detect_format("export", b"loan_ref,borrower") == "csv"


def test_open_records_reads_gzip_by_content(tmp_path: Path) -> None:
    path = tmp_path / "book.data"
    lines = [json.dumps(report(i).to_json()) for i in range(3)]
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    with open_records(str(path)) as reader:
        assert reader.format == "jsonl"
        items = list(reader)
        assert reader.position == path.stat().st_size
    assert [i.loan_ref for i in items if isinstance(i, SourceRecord)] == ["L-0", "L-1", "L-2"]


# -- retry policy and errors -----------------------------------------------------------------


def test_backoff_is_exponential_full_jitter_with_cap() -> None:
    top = 0.999999
    assert backoff_delay(0, rand=lambda: top) == pytest.approx(0.5, rel=1e-5)
    assert backoff_delay(1, rand=lambda: top) == pytest.approx(1.0, rel=1e-5)
    assert backoff_delay(3, rand=lambda: top) == pytest.approx(4.0, rel=1e-5)
    assert backoff_delay(4, rand=lambda: top) == pytest.approx(8.0, rel=1e-5)
    assert backoff_delay(50, rand=lambda: top) == pytest.approx(8.0, rel=1e-5)
    assert backoff_delay(500, rand=lambda: top) == pytest.approx(8.0, rel=1e-5)
    assert backoff_delay(2, rand=lambda: 0.0) == 0.0
    assert backoff_delay(2, base=1.0, cap=3.0, rand=lambda: 0.5) == 1.5
    draws = [backoff_delay(2) for _ in range(200)]
    assert all(0 <= d <= 2.0 for d in draws)
    assert len(set(draws)) > 100  # jittered, not fixed


def test_parse_retry_after() -> None:
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None
    assert parse_retry_after("1") == 1.0
    assert parse_retry_after(" 2.5 ") == 2.5
    assert parse_retry_after("-1") is None
    assert parse_retry_after("soon") is None
    now = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(later, now=now) == 30.0
    earlier = format_datetime(now - timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(earlier, now=now) == 0.0


@pytest.mark.parametrize(
    ("status", "problem_type", "retry"),
    [
        (408, None, True),
        (429, "/problems/rate-limited", True),
        (500, None, True),
        (502, None, True),
        (503, None, True),
        (504, None, True),
        (409, "/problems/idempotency-in-progress", True),
        (409, "/problems/idempotency-conflict", False),
        (400, "/problems/malformed-request", False),
        (401, "/problems/unauthenticated", False),
        (403, "/problems/forbidden", False),
        (404, "/problems/not-found", False),
        (413, None, False),
        (415, None, False),
        (422, "/problems/validation", False),
    ],
)
def test_is_retryable(status: int, problem_type: str | None, retry: bool) -> None:
    assert is_retryable(status, problem_type) is retry


def problem(status: int, slug: str, title: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": f"/problems/{slug}",
        "title": title,
        "status": status,
        "detail": detail,
        "request_id": "req-body",
        **extra,
    }


@pytest.mark.parametrize(
    ("status", "slug", "cls"),
    [
        (400, "malformed-request", ValidationError),
        (401, "unauthenticated", AuthenticationError),
        (403, "forbidden", PermissionDeniedError),
        (404, "not-found", NotFoundError),
        (409, "idempotency-conflict", ConflictError),
        (413, "payload-too-large", ValidationError),
        (415, "unsupported-media-type", ValidationError),
        (422, "validation", ValidationError),
        (429, "rate-limited", RateLimitError),
        (500, "internal", ServerError),
        (503, "unavailable", ServerError),
        (418, "teapot", APIStatusError),
    ],
)
def test_error_from_response_maps_status_to_class(
    status: int, slug: str, cls: type[RegistryError]
) -> None:
    error = error_from_response(status, problem(status, slug, "Title", "Some detail"))
    assert type(error) is cls
    assert isinstance(error, RegistryError)
    assert error.status == status
    assert error.problem_type == f"/problems/{slug}"
    assert error.request_id == "req-body"
    text = str(error)
    assert str(status) in text and "Title" in text and "Some detail" in text and "req-body" in text


def test_validation_error_field_errors_and_message() -> None:
    body = problem(
        422,
        "validation",
        "Validation failed",
        "2 fields are invalid",
        errors=[
            {"field": "borrower", "message": "must be 64 lowercase hex characters"},
            {"field": "purpose", "message": "must be new_credit or account_review"},
        ],
    )
    error = error_from_response(422, body, request_id="req-header")
    assert isinstance(error, ValidationError)
    assert error.field_errors == [
        ("borrower", "must be 64 lowercase hex characters"),
        ("purpose", "must be new_credit or account_review"),
    ]
    assert error.request_id == "req-header"  # the header wins over the body
    assert "borrower: must be 64 lowercase hex characters" in str(error)
    assert FieldError("loans[3].due_on", "x").record_field == "due_on"


def test_rate_limit_error_and_conflict_in_progress() -> None:
    error = error_from_response(429, problem(429, "rate-limited", "Slow down", ""), retry_after=7)
    assert isinstance(error, RateLimitError) and error.retry_after == 7
    in_progress = error_from_response(
        409, problem(409, "idempotency-in-progress", "In progress", "")
    )
    assert isinstance(in_progress, ConflictError) and in_progress.in_progress


def test_error_without_problem_body_uses_text_or_reason() -> None:
    error = error_from_response(502, None, body_text="<html><h1>Bad   gateway</h1></html>")
    assert isinstance(error, ServerError)
    assert "Bad gateway" in error.message
    assert error_from_response(503, None).message == "Service Unavailable"


def test_errors_pickle_round_trip() -> None:
    import pickle

    error = error_from_response(429, problem(429, "rate-limited", "Slow", "d"), retry_after=3)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is RateLimitError and copy.retry_after == 3 and copy.status == 429


# -- HTTP behaviour against a scripted loopback server --------------------------------------


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class ScriptedServer:
    """A real HTTP server on 127.0.0.1 that answers with the replies it is given, in order."""

    def __init__(self) -> None:
        self.replies: list[Reply] = []
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with outer._lock:
                    outer.seen.append(
                        Seen(self.command, self.path, dict(self.headers.items()), body)
                    )
                    reply = outer.replies.pop(0) if outer.replies else Reply(599, {"x": 1})
                if reply.delay:
                    time.sleep(reply.delay)
                if isinstance(reply.body, bytes | str):
                    payload = reply.body.encode() if isinstance(reply.body, str) else reply.body
                    content_type = "text/html"
                else:
                    payload = json.dumps(reply.body).encode()
                    content_type = (
                        "application/problem+json" if reply.status >= 400 else "application/json"
                    )
                self.send_response(reply.status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("X-Request-ID", f"req-{len(outer.seen)}")
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def script(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(5)


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    srv = ScriptedServer()
    yield srv
    srv.close()


@dataclass
class Sleeps:
    calls: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def make_client(url: str, sleeps: Sleeps | None = None, **kwargs: Any) -> RegistryClient:
    return RegistryClient(url, API_KEY, sleep=sleeps or Sleeps(), **kwargs)


def submission(accepted: int = 1, rejected: list[Any] | None = None) -> dict[str, Any]:
    return {
        "submission_id": "sub-1",
        "accepted": accepted,
        "unchanged": 0,
        "stale": 0,
        "rejected": rejected or [],
    }


def test_retries_503_then_succeeds_with_the_same_idempotency_key(server: ScriptedServer) -> None:
    server.script(
        Reply(503, problem(503, "unavailable", "Down", "")), Reply(503), Reply(200, submission())
    )
    sleeps = Sleeps()
    with make_client(server.url, sleeps) as client:
        result = client.submit_batch([report()])
    assert result.accepted == 1 and result.submission_id == "sub-1"
    assert len(server.seen) == 3
    keys = {s.headers["Idempotency-Key"] for s in server.seen}
    assert len(keys) == 1 and result.idempotency_key in keys
    assert len({s.body for s in server.seen}) == 1
    assert len(sleeps.calls) == 2
    assert 0 <= sleeps.calls[0] <= 0.5 and 0 <= sleeps.calls[1] <= 1.0


def test_request_carries_auth_json_and_user_agent(server: ScriptedServer) -> None:
    server.script(Reply(200, submission()))
    with make_client(server.url) as client:
        client.submit_batch([report()])
    (seen,) = server.seen
    assert seen.method == "POST" and seen.path == "/v1/loans"
    assert seen.headers["Authorization"] == f"Bearer {API_KEY}"
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.headers["User-Agent"].startswith("lender-client/")
    assert seen.json() == {"loans": [report().to_json()]}


def test_retry_after_is_honoured(server: ScriptedServer) -> None:
    server.script(
        Reply(429, problem(429, "rate-limited", "Too many", ""), {"Retry-After": "1"}),
        Reply(200, submission()),
    )
    sleeps = Sleeps()
    with make_client(server.url, sleeps) as client:
        client.submit_batch([report()])
    assert sleeps.calls == [1.0]
    assert len(server.seen) == 2


def test_rate_limit_error_after_retries_carries_retry_after(server: ScriptedServer) -> None:
    limited = Reply(429, problem(429, "rate-limited", "Too many", ""), {"Retry-After": "2"})
    server.script(limited, limited)
    sleeps = Sleeps()
    client = make_client(server.url, sleeps, max_retries=1)
    with client, pytest.raises(RateLimitError) as info:
        client.get_loan("L-1")
    assert info.value.retry_after == 2.0
    assert sleeps.calls == [2.0]


def test_retry_after_longer_than_allowed_is_not_waited_for(server: ScriptedServer) -> None:
    server.script(Reply(429, problem(429, "rate-limited", "Later", ""), {"Retry-After": "3600"}))
    sleeps = Sleeps()
    with make_client(server.url, sleeps) as client, pytest.raises(RateLimitError):
        client.get_loan("L-1")
    assert sleeps.calls == [] and len(server.seen) == 1


@pytest.mark.parametrize(
    ("status", "slug", "cls"),
    [
        (400, "malformed-request", ValidationError),
        (401, "unauthenticated", AuthenticationError),
        (403, "forbidden", PermissionDeniedError),
        (404, "not-found", NotFoundError),
        (409, "idempotency-conflict", ConflictError),
        (422, "validation", ValidationError),
    ],
)
def test_client_errors_are_not_retried(
    server: ScriptedServer, status: int, slug: str, cls: type[RegistryError]
) -> None:
    server.script(Reply(status, problem(status, slug, "Nope", "detail")), Reply(200, submission()))
    sleeps = Sleeps()
    with make_client(server.url, sleeps) as client, pytest.raises(cls) as info:
        client.submit_batch([report()])
    assert len(server.seen) == 1 and sleeps.calls == []
    assert info.value.status == status
    assert info.value.request_id == "req-1"  # from the X-Request-ID header


def test_idempotency_in_progress_is_retried(server: ScriptedServer) -> None:
    server.script(
        Reply(409, problem(409, "idempotency-in-progress", "In progress", "")),
        Reply(200, submission()),
    )
    with make_client(server.url) as client:
        assert client.submit_batch([report()]).accepted == 1
    assert server.seen[0].headers["Idempotency-Key"] == server.seen[1].headers["Idempotency-Key"]


def test_inquiry_in_progress_is_retried_with_the_same_key_then_raised(
    server: ScriptedServer,
) -> None:
    # The registry waits for a concurrent request with the same key instead of answering
    # this, but the contract allows it, and the client must wait and retry.
    in_progress = Reply(
        409,
        problem(409, "idempotency-in-progress", "In progress", "still working"),
        {"Retry-After": "2"},
    )
    server.script(in_progress, in_progress, Reply(200, inquiry_body()))
    sleeps = Sleeps()
    with make_client(server.url, sleeps, max_retries=2) as client:
        got = client.inquire(TOKEN, consent_ref="C-1")
    assert got.inquiry_id == "inq-1"
    assert sleeps.calls == [2.0, 2.0]
    assert [s.path for s in server.seen] == ["/v1/inquiries"] * 3
    assert len({s.headers["Idempotency-Key"] for s in server.seen}) == 1
    assert len({s.body for s in server.seen}) == 1

    server.seen.clear()
    server.script(in_progress, in_progress)
    with make_client(server.url, max_retries=1) as client, pytest.raises(ConflictError) as info:
        client.inquire(TOKEN, consent_ref="C-1", idempotency_key="app-77")
    assert info.value.in_progress and info.value.status == 409
    assert [s.headers["Idempotency-Key"] for s in server.seen] == ["app-77", "app-77"]


def test_server_error_after_retries_are_used_up(server: ScriptedServer) -> None:
    server.script(*[Reply(500, problem(500, "internal", "Boom", ""))] * 3)
    sleeps = Sleeps()
    client = make_client(server.url, sleeps, max_retries=2)
    with client, pytest.raises(ServerError) as info:
        client.get_loan("L-1")
    assert len(server.seen) == 3 and len(sleeps.calls) == 2
    assert info.value.status == 500 and info.value.request_id == "req-3"


def test_html_error_page_becomes_server_error(server: ScriptedServer) -> None:
    server.script(Reply(502, "<html><body>Bad Gateway from proxy</body></html>"))
    with make_client(server.url, max_retries=0) as client, pytest.raises(ServerError) as info:
        client.get_loan("L-1")
    assert "Bad Gateway from proxy" in str(info.value)


class CountingSession(requests.Session):
    def __init__(self) -> None:
        super().__init__()
        self.attempts = 0

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        self.attempts += 1
        return super().send(request, **kwargs)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_connection_refused_raises_after_max_retries_plus_one_attempts() -> None:
    session = CountingSession()
    sleeps = Sleeps()
    url = f"http://127.0.0.1:{free_port()}"
    client = RegistryClient(url, API_KEY, max_retries=3, sleep=sleeps, session=session)
    with pytest.raises(APIConnectionError) as info:
        client.submit_batch([report()])
    session.close()
    assert session.attempts == 4
    assert len(sleeps.calls) == 3
    assert "refused" in str(info.value).lower()
    assert API_KEY not in str(info.value) and API_KEY not in repr(info.value)


def test_timeout_raises_api_timeout_error(server: ScriptedServer) -> None:
    server.script(Reply(200, submission(), delay=1.0))
    client = make_client(server.url, timeout=0.2, max_retries=0)
    with client, pytest.raises(APITimeoutError):
        client.get_loan("L-1")


def test_timeout_is_retried_with_the_same_key(server: ScriptedServer) -> None:
    server.script(Reply(200, submission(), delay=1.0), Reply(200, submission()))
    with make_client(server.url, timeout=0.3, max_retries=1) as client:
        assert client.submit_batch([report()]).accepted == 1
    assert server.seen[0].headers["Idempotency-Key"] == server.seen[1].headers["Idempotency-Key"]


def test_callers_idempotency_key_wins(server: ScriptedServer) -> None:
    server.script(Reply(200, submission()), Reply(200, inquiry_body()))
    with make_client(server.url) as client:
        client.submit_batch([report()], idempotency_key="my-key-1")
        client.inquire(TOKEN, consent_ref="C-1", idempotency_key="my-key-2")
        with pytest.raises(ValueError):
            client.submit_batch([report()], idempotency_key="bad\nkey")
    assert [s.headers["Idempotency-Key"] for s in server.seen] == ["my-key-1", "my-key-2"]


def test_every_post_gets_a_fresh_key(server: ScriptedServer) -> None:
    server.script(Reply(200, submission()), Reply(200, submission()))
    with make_client(server.url) as client:
        client.submit_batch([report()])
        client.submit_batch([report()])
    assert server.seen[0].headers["Idempotency-Key"] != server.seen[1].headers["Idempotency-Key"]


def test_api_key_never_appears_in_errors_or_reprs(server: ScriptedServer) -> None:
    server.script(Reply(401, problem(401, "unauthenticated", "Unauthenticated", "bad key")))
    with make_client(server.url) as client:
        assert API_KEY not in repr(client)
        with pytest.raises(AuthenticationError) as info:
            client.get_loan("L-1")
    for text in (str(info.value), repr(info.value), str(info.value.problem)):
        assert API_KEY not in text


def test_missing_api_key_fails_at_construction(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REGISTRY_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="REGISTRY_API_KEY"):
        RegistryClient("http://127.0.0.1:1")
    with pytest.raises(ConfigurationError) as info:
        RegistryClient("http://127.0.0.1:1", "has space" + API_KEY)
    assert API_KEY not in str(info.value)


def test_defaults_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY_URL", "http://registry.test:8080/base/")
    monkeypatch.setenv("REGISTRY_API_KEY", API_KEY)
    with RegistryClient() as client:
        assert client.base_url == "http://registry.test:8080/base"
        assert client.timeout == (10.0, 10.0)
    monkeypatch.delenv("REGISTRY_URL")
    with RegistryClient() as client:
        assert client.base_url == "http://127.0.0.1:5000"
    with pytest.raises(ConfigurationError):
        RegistryClient("ftp://example.org", API_KEY)


def test_get_loan_quotes_the_reference_and_parses(server: ScriptedServer) -> None:
    loan = {
        **report(due_on=None, product="credit_line").to_json(),
        "loan_ref": "a/b c?",
        "first_reported_at": "2026-11-20T10:00:01Z",
        "last_reported_at": "2026-11-21T10:00:01+00:00",
    }
    server.script(Reply(200, loan))
    with make_client(server.url) as client:
        got = client.get_loan("a/b c?")
    assert server.seen[0].path == "/v1/loans/a%2Fb%20c%3F"
    assert got.loan_ref == "a/b c?"
    assert got.product is Product.CREDIT_LINE and got.due_on is None
    assert got.as_of == AS_OF
    assert got.last_reported_at == datetime(2026, 11, 21, 10, 0, 1, tzinfo=UTC)
    assert got.raw == loan
    assert got.to_report().loan_ref == "a/b c?"


@pytest.mark.parametrize(
    ("ref", "path"),
    [
        (".", "/v1/loans/%2E"),
        ("..", "/v1/loans/%2E%2E"),
        ("L-1.5", "/v1/loans/L-1%2E5"),
        ("a/b", "/v1/loans/a%2Fb"),
        ("a?b#c", "/v1/loans/a%3Fb%23c"),
        ("100%", "/v1/loans/100%25"),
        ("%2E", "/v1/loans/%252E"),
        ("贷 1", "/v1/loans/%E8%B4%B7%201"),
    ],
)
def test_get_loan_sends_the_reference_as_one_intact_segment(
    server: ScriptedServer, ref: str, path: str
) -> None:
    server.script(Reply(404, problem(404, "not-found", "Not found", "")))
    with make_client(server.url) as client, pytest.raises(NotFoundError):
        client.get_loan(ref)
    assert [s.path for s in server.seen] == [path]


def test_get_loan_keeps_the_base_path_prefix(server: ScriptedServer) -> None:
    server.script(Reply(404, problem(404, "not-found", "Not found", "")))
    with make_client(server.url + "/reg/", max_retries=0) as client, pytest.raises(NotFoundError):
        client.get_loan("..")
    assert server.seen[0].path == "/reg/v1/loans/%2E%2E"


def test_text_that_is_not_unicode_is_refused_before_sending(server: ScriptedServer) -> None:
    with make_client(server.url) as client:
        with pytest.raises(ValueError, match="surrogate"):
            client.get_loan("L-\udcff")
        with pytest.raises(ValueError, match=r"unpaired surrogate '\\ud800'"):
            client.inquire(TOKEN, consent_ref="\ud800")
    assert server.seen == []


def test_iter_loans_follows_cursors(server: ScriptedServer) -> None:
    def loan(ref: str) -> dict[str, Any]:
        return {**report(loan_ref=ref).to_json(), "first_reported_at": None}

    server.script(
        Reply(200, {"data": [loan("a"), loan("b")], "next_cursor": "c1"}),
        Reply(200, {"data": [loan("c")], "next_cursor": "c2"}),
        Reply(200, {"data": [], "next_cursor": None}),
    )
    with make_client(server.url) as client:
        refs = [item.loan_ref for item in client.iter_loans(status="open", page_size=2)]
    assert refs == ["a", "b", "c"]
    paths = [s.path for s in server.seen]
    assert paths[0] == "/v1/loans?limit=2&status=open"
    assert paths[1] == "/v1/loans?limit=2&status=open&cursor=c1"
    assert paths[2].endswith("cursor=c2")


def test_iter_loans_is_lazy_and_detects_cursor_loops(server: ScriptedServer) -> None:
    page = {"data": [], "next_cursor": "same"}
    server.script(Reply(200, page), Reply(200, page))
    with make_client(server.url) as client:
        iterator = client.iter_loans()
        assert server.seen == []
        with pytest.raises(UnexpectedResponseError):
            list(iterator)


def test_report_loans_streams_batches_and_maps_rejections(server: ScriptedServer) -> None:
    def batch_reply(accepted: int, rejected: list[Any]) -> Reply:
        body = submission(accepted, rejected)
        body["submission_id"] = f"sub-{len(server.replies)}"
        return Reply(200, body)

    bad_due = {"field": "loans[1].due_on", "message": "must not be before opened_on"}
    server.script(
        batch_reply(2, []),
        batch_reply(1, [{"index": 1, "loan_ref": "L-3", "errors": [bad_due]}]),
        batch_reply(1, []),
    )
    pulled: list[int] = []

    def records() -> Iterator[LoanReport]:
        for i in range(5):
            pulled.append(i)
            yield report(i)

    seen_at_request: list[int] = []
    batches: list[Any] = []

    def on_batch(batch: Any) -> None:
        batches.append(batch)
        seen_at_request.append(len(pulled))

    with make_client(server.url) as client:
        summary = client.report_loans(records(), batch_size=2, on_batch=on_batch)
    assert summary.records == 5 and summary.batches == 3
    assert summary.accepted == 4 and summary.rejected_count == 1 and not summary.ok
    (rejection,) = summary.rejected
    assert rejection.index == 3 and rejection.loan_ref == "L-3" and rejection.batch == 1
    assert rejection.errors == [("due_on", "must not be before opened_on")]
    assert "due_on: must not be before opened_on" in rejection.reasons
    # Lazily consumed: each batch was sent before the next was read.
    assert seen_at_request == [2, 4, 5]
    assert [b.start_index for b in batches] == [0, 2, 4]
    assert [len(s.json()["loans"]) for s in server.seen] == [2, 2, 1]
    assert len({s.headers["Idempotency-Key"] for s in server.seen}) == 3
    assert summary.submission_ids == [b.submission_id for b in batches]


def test_report_loans_prefix_keys_and_mappings(server: ScriptedServer) -> None:
    server.script(Reply(200, submission()), Reply(200, submission()))
    records = [
        {**report(1).to_json(), "opened_on": date(2026, 1, 2)},
        {**report(2).to_json(), "as_of": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)},
    ]
    with make_client(server.url) as client:
        client.report_loans(records, batch_size=1, idempotency_key_prefix="book-2026-11-20")
    assert [s.headers["Idempotency-Key"] for s in server.seen] == [
        "book-2026-11-20-0",
        "book-2026-11-20-1",
    ]
    assert server.seen[0].json()["loans"][0]["opened_on"] == "2026-01-02"
    assert server.seen[1].json()["loans"][0]["as_of"] == "2026-01-02T03:04:05Z"


def test_report_loans_checks_every_prefixed_key_before_sending(server: ScriptedServer) -> None:
    # 11 batches: the last key is f"{prefix}-10", one character longer than the first.
    with make_client(server.url) as client:
        with pytest.raises(ValueError, match=r"too long.*256 characters"):
            client.report_loans([report(i) for i in range(11)], 1, idempotency_key_prefix="p" * 253)
        with pytest.raises(ValueError, match="printable ASCII"):
            client.report_loans([report()], idempotency_key_prefix=" leading-space")
        with pytest.raises(ValueError, match="printable ASCII"):
            client.report_loans([report()], idempotency_key_prefix="tab\there")
        # A stream of unknown length leaves room for the largest batch number there can be.
        with pytest.raises(ValueError, match="too long"):
            client.report_loans(iter([report()]), 1000, idempotency_key_prefix="p" * 239)
    assert server.seen == []

    server.script(*[Reply(200, submission())] * 12)
    with make_client(server.url) as client:
        client.report_loans([report(i) for i in range(11)], 1, idempotency_key_prefix="q" * 252)
        client.report_loans(iter([report()]), 1000, idempotency_key_prefix="r" * 238)
    keys = [s.headers["Idempotency-Key"] for s in server.seen]
    assert keys[0] == "q" * 252 + "-0" and keys[10] == "q" * 252 + "-10"
    assert keys[11] == "r" * 238 + "-0"


def test_report_loans_failure_carries_partial_summary(server: ScriptedServer) -> None:
    server.script(
        Reply(200, submission(2)),
        Reply(401, problem(401, "unauthenticated", "Unauthenticated", "key revoked")),
    )
    with make_client(server.url) as client, pytest.raises(AuthenticationError) as info:
        client.report_loans((report(i) for i in range(10)), batch_size=2)
    partial = info.value.partial_summary
    assert partial is not None and partial.accepted == 2 and partial.batches == 1


def test_report_loans_empty_input_sends_nothing(server: ScriptedServer) -> None:
    with make_client(server.url) as client:
        summary = client.report_loans([])
        with pytest.raises(ValueError):
            client.report_loans([report()], batch_size=5001)
    assert summary.records == 0 and server.seen == []


def inquiry_body() -> dict[str, Any]:
    return {
        "inquiry_id": "inq-1",
        "borrower": TOKEN,
        "generated_at": "2026-11-20T10:00:00Z",
        "purpose": "new_credit",
        "summary": {
            "open_loans": 3,
            "lenders_with_open_loans": 3,
            "other_lenders_with_open_loans": 2,
            "outstanding": {"CNY": 1_234_567},
            "max_days_past_due": 12,
            "past_due_loans": 1,
            "written_off_loans": 0,
            "loans_opened_last_30d": 2,
            "other_lenders_inquiring": {"1d": 1, "7d": 2, "30d": 3, "90d": 4},
        },
        "own": {"open_loans": 1, "outstanding": {"CNY": 100}},
        "flags": [
            {"code": "MULTI_LENDER", "detail": "open loans with 3 lenders"},
            {"code": "SOMETHING_NEW", "detail": "a flag this client does not know"},
        ],
    }


def test_inquire_parses_typed_report(server: ScriptedServer) -> None:
    server.script(Reply(200, inquiry_body()))
    with make_client(server.url) as client:
        got = client.inquire(TOKEN, consent_ref="APP-1", amount_requested=5000, currency="CNY")
    assert server.seen[0].json() == {
        "borrower": TOKEN,
        "purpose": "new_credit",
        "consent_ref": "APP-1",
        "amount_requested": 5000,
        "currency": "CNY",
    }
    assert got.summary.open_loans == 3
    assert got.summary.outstanding == {"CNY": 1_234_567}
    assert got.summary.other_lenders_inquiring.last_90d == 4
    assert got.own.outstanding == {"CNY": 100}
    assert got.has_flag(FlagCode.MULTI_LENDER) and got.flag_codes[1] == "SOMETHING_NEW"
    assert got.generated_at == AS_OF
    assert got.raw == inquiry_body()


def test_unreadable_success_bodies(server: ScriptedServer) -> None:
    broken = inquiry_body()
    del broken["summary"]["open_loans"]
    server.script(Reply(200, broken), Reply(200, "not json"), Reply(302, {}, {"Location": "/x"}))
    with make_client(server.url) as client:
        with pytest.raises(UnexpectedResponseError, match="open_loans"):
            client.inquire(TOKEN, consent_ref="C")
        with pytest.raises(UnexpectedResponseError, match="not JSON"):
            client.get_loan("x")
        with pytest.raises(UnexpectedResponseError, match="redirected"):
            client.get_loan("x")


# -- CLI behaviour that needs no registry ----------------------------------------------------


def test_cli_without_api_key_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REGISTRY_API_KEY", raising=False)
    result = CliRunner().invoke(cli, ["loan", "L-1"])
    assert result.exit_code == 2
    assert "REGISTRY_API_KEY" in result.stderr


def test_cli_connection_failure_exits_3_without_traceback() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = CliRunner().invoke(
        cli, ["--url", url, "--api-key", API_KEY, "--retries", "0", "loan", "L-1"]
    )
    assert result.exit_code == 3
    assert result.stderr.startswith("error: could not reach")
    assert "Traceback" not in result.output and API_KEY not in result.output


def test_cli_prints_field_errors(server: ScriptedServer) -> None:
    body = problem(
        422,
        "validation",
        "Validation failed",
        "1 field is invalid",
        errors=[{"field": "consent_ref", "message": "must be at most 128 characters"}],
    )
    server.script(Reply(422, body))
    result = CliRunner().invoke(
        cli,
        ["--url", server.url, "--api-key", API_KEY, "inquire", TOKEN, "--consent-ref", "x" * 200],
    )
    assert result.exit_code == 3
    lines = result.stderr.splitlines()
    assert lines[0] == "error: HTTP 422: Validation failed - 1 field is invalid (request id req-1)"
    assert lines[1] == "  consent_ref: must be at most 128 characters"


def test_cli_inquire_checks_arguments_locally() -> None:
    runner = CliRunner()
    base = ["--api-key", API_KEY, "inquire"]
    result = runner.invoke(cli, [*base, "not-a-token", "--consent-ref", "C"])
    assert result.exit_code == 2 and "64 hexadecimal" in result.stderr
    result = runner.invoke(cli, [*base, TOKEN])
    assert result.exit_code == 2 and "--consent-ref" in result.stderr


def test_cli_upload_of_a_file_with_a_bad_header_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "book.csv"
    path.write_text("loan_ref,borrower,due_date\n")
    result = CliRunner().invoke(
        cli, ["--api-key", API_KEY, "--url", "http://127.0.0.1:1", "upload", str(path)]
    )
    assert result.exit_code == 2
    assert "unknown column" in result.stderr and "'due_date'" in result.stderr


def test_cli_readable_inquiry_against_scripted_server(server: ScriptedServer) -> None:
    server.script(Reply(200, inquiry_body()))
    result = CliRunner().invoke(
        cli, ["--url", server.url, "--api-key", API_KEY, "inquire", TOKEN, "--consent-ref", "C"]
    )
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "12,345.67 CNY" in out and "1.00 CNY" in out
    assert "3 (2 other)" in out
    assert "1 / 2 / 3 / 4" in out
    assert "MULTI_LENDER" in out and "SOMETHING_NEW" in out


def test_cli_upload_that_fails_part_way_exits_3_and_keeps_what_was_done(
    server: ScriptedServer, tmp_path: Path
) -> None:
    path = tmp_path / "book.csv"
    path.write_text("\n".join([HEADER, *(csv_row(f"L-{i}") for i in range(4))]) + "\n")
    rejected = [
        {"index": 1, "loan_ref": "L-1", "errors": [{"field": "loans[1].due_on", "message": "bad"}]}
    ]
    server.script(
        Reply(200, submission(1, rejected)),
        Reply(503, problem(503, "unavailable", "Down for maintenance", "")),
    )
    result = CliRunner().invoke(
        cli,
        [
            "--url",
            server.url,
            "--api-key",
            API_KEY,
            "--retries",
            "0",
            "upload",
            str(path),
            "--batch-size",
            "2",
        ],
    )
    assert result.exit_code == 3
    assert "stopped part-way" in result.stderr
    assert "error: HTTP 503: Down for maintenance (request id req-2)" in result.stderr
    assert "Accepted" in result.stdout
    rows = (tmp_path / "book.csv.rejected.csv").read_text().splitlines()
    assert rows == ["line,loan_ref,field,message", "3,L-1,due_on,bad"]


def upload_with(server: ScriptedServer, path: Path, *options: str) -> Any:
    return CliRunner().invoke(
        cli,
        ["--url", server.url, "--api-key", API_KEY, "upload", str(path), *options],
        catch_exceptions=False,
    )


def rejects_of(path: Path) -> list[list[str]]:
    with Path(f"{path}.rejected.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def test_cli_upload_sends_the_rest_of_a_batch_holding_a_lone_surrogate(
    server: ScriptedServer, tmp_path: Path
) -> None:
    path = tmp_path / "book.jsonl"
    lines = [
        json.dumps(report(1).to_json()),
        '{"loan_ref": "\\ud800", "principal": 1}',
        json.dumps({**report(3).to_json(), "product": "cash\udc80loan"}),
        json.dumps(report(4).to_json()),
    ]
    path.write_text("\n".join(lines) + "\n")
    server.script(Reply(200, submission(2)))
    result = upload_with(server, path, "--no-progress")
    assert result.exit_code == 1, result.output
    (sent,) = server.seen
    assert [r["loan_ref"] for r in sent.json()["loans"]] == ["L-1", "L-4"]
    assert rejects_of(path) == [
        ["line", "loan_ref", "field", "message"],
        ["2", "", "loan_ref", "is not valid Unicode text: it holds the unpaired surrogate \\ud800"],
        [
            "3",
            "L-3",
            "product",
            "is not valid Unicode text: it holds the unpaired surrogate \\udc80",
        ],
    ]


def test_cli_upload_of_csv_that_is_not_utf8(server: ScriptedServer, tmp_path: Path) -> None:
    path = tmp_path / "book.csv"
    rows = [csv_row("A"), csv_row("Bé"), csv_row("C")]
    path.write_bytes(("\n".join([HEADER, *rows]) + "\n").encode("latin-1"))
    server.script(Reply(200, submission(2)))
    result = upload_with(server, path, "--no-progress")
    assert result.exit_code == 1, result.output
    assert [r["loan_ref"] for r in server.seen[0].json()["loans"]] == ["A", "C"]
    (_, row) = rejects_of(path)
    assert row[:3] == ["3", "B\ufffd", ""]
    assert (
        row[3]
        == "line is not valid UTF-8 (byte 0xE9 at byte 2 of the line); save the file as UTF-8"
    )

    # A header that is not UTF-8 (here UTF-16) makes the file unusable: a usage error.
    path.write_bytes(f"{HEADER}\n{csv_row('A')}\n".encode("utf-16"))
    result = upload_with(server, path)
    assert result.exit_code == 2
    assert "cannot read the header row: line is not valid UTF-8" in result.stderr
    assert len(server.seen) == 1


def test_cli_upload_of_a_damaged_gzip_file(server: ScriptedServer, tmp_path: Path) -> None:
    lines = [json.dumps(report(i).to_json()) for i in range(3_000)]
    whole = gzip.compress(("\n".join(lines) + "\n").encode())
    path = tmp_path / "book.jsonl.gz"
    path.write_bytes(whole[: len(whole) // 2])
    server.script(*[Reply(200, submission())] * 3)
    result = upload_with(server, path, "--no-progress")
    assert result.exit_code == 1, result.output
    sent = [r["loan_ref"] for s in server.seen for r in s.json()["loans"]]
    assert 0 < len(sent) < 3_000 and sent == [f"L-{i}" for i in range(len(sent))]
    (_, row) = rejects_of(path)
    assert row[0] == str(len(sent) + 1) and "damaged or cut short" in row[3]

    path.write_bytes(whole[:15])
    result = upload_with(server, path)
    assert result.exit_code == 2 and "damaged or cut short" in result.stderr


def test_cli_loan_ref_that_cannot_be_sent_is_a_usage_error() -> None:
    base = ["--api-key", API_KEY, "--url", "http://127.0.0.1:1", "loan"]
    for ref in ("", "L-\udcff"):
        result = CliRunner().invoke(cli, [*base, ref], catch_exceptions=False)
        assert result.exit_code == 2 and "REF" in result.stderr


def test_cli_verbose_logs_requests_but_never_the_key(server: ScriptedServer) -> None:
    server.script(Reply(404, problem(404, "not-found", "Not found", "no such loan")))
    result = CliRunner().invoke(cli, ["-v", "--url", server.url, "--api-key", API_KEY, "loan", "X"])
    assert result.exit_code == 3
    assert "GET /v1/loans/X -> 404" in result.stderr
    assert API_KEY not in result.output


def test_cli_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and result.stdout.startswith("lender-client, version ")
