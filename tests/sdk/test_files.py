"""The file readers: CSV and JSON Lines, bad lines, gzip, format detection."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path
from typing import Any

import pytest

from lender_client.files import (
    BadLine,
    CsvReader,
    FileFormatError,
    JsonLinesReader,
    SourceRecord,
    detect_format,
    open_records,
)
from tests.sdk.scripted import (
    HEADER,
    TOKEN,
    csv_row,
    report,
)


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
