"""Streaming readers for loan report files: CSV with a header row, and JSON Lines.

Both read a file of any size one line at a time and yield, for each record, either a
:class:`SourceRecord` (the record as the API takes it, plus the line it starts on) or a
:class:`BadLine` (a row that cannot even be parsed, with the reason). A bad row never stops the
reading. A problem with the file as a whole (no header, unknown columns) raises
:class:`FileFormatError` before any record is yielded.

CSV
    The first row names the columns: the record fields ``loan_ref, borrower, product,
    currency, principal, outstanding, opened_on, due_on, status, days_past_due, as_of`` in any
    order (``due_on`` may be left out). An empty ``due_on`` is sent as null; ``principal``,
    ``outstanding`` and ``days_past_due`` are sent as integers when they parse as such and as
    the text they hold otherwise, so that the registry says what is wrong with them. Each
    record is one line (quoted fields may hold commas, not line breaks); lines count from 1,
    the header. Blank lines are skipped, and a UTF-8 byte order mark is ignored.

JSON Lines
    One JSON object per line, with the record fields as members. Blank lines are skipped.

Either may be gzip-compressed (detected by content).
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any, Literal, Protocol

from lender_client.models import INTEGER_FIELDS, OPTIONAL_FIELDS, RECORD_FIELDS

__all__ = [
    "MAX_LINE_BYTES",
    "BadLine",
    "CsvReader",
    "FileFormatError",
    "JsonLinesReader",
    "RecordReader",
    "SourceRecord",
    "detect_format",
    "open_records",
]

Format = Literal["csv", "jsonl"]

#: A physical line longer than this is reported as a bad line (and skipped) instead of being
#: held in memory.
MAX_LINE_BYTES = 1 << 20

_INTEGER = re.compile(r"\s*[+-]?\d+\s*")
_BOM = b"\xef\xbb\xbf"


class _ReadSource(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...

    def readline(self, size: int = -1, /) -> bytes: ...


class FileFormatError(ValueError):
    """The file as a whole cannot be read as the format it was taken for."""


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """A record read from the file; ``line`` is the 1-based line it starts on."""

    line: int
    data: dict[str, Any]

    @property
    def loan_ref(self) -> str | None:
        ref = self.data.get("loan_ref")
        return ref if isinstance(ref, str) else None


@dataclass(frozen=True, slots=True)
class BadLine:
    """A row that could not be parsed into a record, and why."""

    line: int
    message: str
    loan_ref: str | None = None
    field: str = ""


class RecordReader:
    """Base of the readers: iterate it for records, watch :attr:`position` for progress."""

    format: Format

    def __init__(
        self,
        stream: _ReadSource,
        total_bytes: int | None = None,
        position: Callable[[], int] | None = None,
    ) -> None:
        self._stream = stream
        #: The size of the source in bytes, when known (not for a pipe).
        self.total_bytes = total_bytes
        self._position = position
        self._consumed = 0
        self._undecodable: set[int] = set()

    @property
    def position(self) -> int:
        """How far into the source the reading is, in bytes (of the file as stored)."""
        if self._position is not None:
            try:
                return self._position()
            except (OSError, ValueError):
                pass
        return self._consumed

    def __iter__(self) -> Iterator[SourceRecord | BadLine]:
        raise NotImplementedError

    def _raw_lines(self) -> Iterator[tuple[int, bytes | None]]:
        """``(line number, bytes)`` for each physical line; ``None`` for one that is too long."""
        lineno = 0
        while True:
            raw = self._stream.readline(MAX_LINE_BYTES + 1)
            if not raw:
                return
            lineno += 1
            self._consumed += len(raw)
            if lineno == 1 and raw.startswith(_BOM):
                raw = raw[len(_BOM) :]
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                while True:
                    more = self._stream.readline(MAX_LINE_BYTES + 1)
                    self._consumed += len(more)
                    if not more or more.endswith(b"\n"):
                        break
                yield lineno, None
                continue
            yield lineno, raw


class JsonLinesReader(RecordReader):
    """Reads one JSON object per line."""

    format: Format = "jsonl"

    def __iter__(self) -> Iterator[SourceRecord | BadLine]:
        for lineno, raw in self._raw_lines():
            if raw is None:
                yield BadLine(lineno, f"line is longer than {MAX_LINE_BYTES} bytes")
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                yield BadLine(lineno, "line is not valid UTF-8")
                continue
            if not text.strip():
                continue
            try:
                value = json.loads(text, parse_constant=_refuse_constant)
            except ValueError as exc:
                reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
                column = f" at column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
                yield BadLine(lineno, f"invalid JSON: {reason}{column}")
                continue
            if not isinstance(value, dict):
                yield BadLine(lineno, f"expected a JSON object, found {_json_kind(value)}")
                continue
            yield SourceRecord(lineno, value)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"


class CsvReader(RecordReader):
    """Reads CSV with a header row naming the record fields, one record per line.

    A quoted field may hold commas but not line breaks: no record field has any, and reading
    line by line means that a stray quote spoils only its own line instead of silently
    joining the lines after it into one row.
    """

    format: Format = "csv"

    def __init__(
        self,
        stream: _ReadSource,
        total_bytes: int | None = None,
        position: Callable[[], int] | None = None,
    ) -> None:
        super().__init__(stream, total_bytes, position)
        self.columns: list[str] = []

    def _rows(self) -> Iterator[tuple[int, list[str] | None, str]]:
        """``(line number, cells, problem)`` per non-blank line; cells ``None`` if unreadable."""
        for lineno, raw in self._raw_lines():
            if raw is None:
                yield lineno, None, f"line is longer than {MAX_LINE_BYTES} bytes"
                continue
            try:
                text = raw.decode("utf-8")
                problem = ""
            except UnicodeDecodeError:
                text = raw.decode("utf-8", errors="replace")
                problem = "line is not valid UTF-8"
            text = text.rstrip("\r\n")
            if not text.strip():
                continue
            try:
                cells = next(csv.reader([text], strict=True))
            except csv.Error as exc:
                reason = str(exc)
                if reason == "unexpected end of data":
                    reason = "a quoted field is not closed on this line"
                yield lineno, None, f"unreadable CSV line: {reason}"
                continue
            yield lineno, cells, problem

    def _header(self, rows: Iterator[tuple[int, list[str] | None, str]]) -> list[str]:
        expected = ", ".join(RECORD_FIELDS)
        try:
            _, header, problem = next(rows)
        except StopIteration:
            raise FileFormatError(
                f"the file is empty: expected a header row naming the columns {expected}"
            ) from None
        if header is None or problem:
            raise FileFormatError(f"cannot read the header row: {problem}")
        columns = [c.strip().lower() for c in header]
        unknown = [c for c in columns if c not in RECORD_FIELDS]
        if unknown:
            raise FileFormatError(
                f"unknown column(s) in the header: {', '.join(map(repr, unknown))}; "
                f"the columns are: {expected}"
            )
        duplicated = sorted({c for c in columns if columns.count(c) > 1})
        if duplicated:
            raise FileFormatError(f"column(s) named twice in the header: {', '.join(duplicated)}")
        missing = [f for f in RECORD_FIELDS if f not in columns and f not in OPTIONAL_FIELDS]
        if missing:
            raise FileFormatError(
                f"missing column(s) in the header: {', '.join(missing)}; "
                f"the columns are: {expected}"
            )
        return columns

    def __iter__(self) -> Iterator[SourceRecord | BadLine]:
        rows = self._rows()
        self.columns = columns = self._header(rows)
        ref_column = columns.index("loan_ref")
        for lineno, cells, problem in rows:
            if cells is None:
                yield BadLine(lineno, problem)
                continue
            ref = cells[ref_column] if ref_column < len(cells) else None
            if problem:
                yield BadLine(lineno, problem, ref)
            elif len(cells) != len(columns):
                yield BadLine(lineno, f"expected {len(columns)} columns, found {len(cells)}", ref)
            else:
                yield SourceRecord(lineno, _csv_record(columns, cells))


def _csv_record(columns: list[str], row: list[str]) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for name, cell in zip(columns, row, strict=True):
        value: Any = cell
        if name in INTEGER_FIELDS and _INTEGER.fullmatch(cell):
            value = int(cell)
        elif name in OPTIONAL_FIELDS and not cell.strip():
            value = None
        record[name] = value
    return record


def detect_format(name: str, head: bytes) -> Format:
    """``"csv"`` or ``"jsonl"`` from the file name's extension, else from its first bytes."""
    lowered = name.lower()
    if lowered.endswith(".gz"):
        lowered = lowered[:-3]
    if lowered.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if lowered.endswith((".csv", ".txt")):
        return "csv"
    stripped = head.removeprefix(_BOM).lstrip()
    return "jsonl" if stripped.startswith(b"{") else "csv"


class _Peekable:
    """A byte stream that can look ahead without consuming (any ``read``-able source)."""

    def __init__(self, stream: _ReadSource) -> None:
        self._stream = stream
        self._buffer = b""

    def peek(self, size: int) -> bytes:
        while len(self._buffer) < size:
            chunk = self._stream.read(size - len(self._buffer))
            if not chunk:
                break
            self._buffer += chunk
        return self._buffer[:size]

    def read(self, size: int = -1, /) -> bytes:
        if not self._buffer:
            return self._stream.read(size)
        if size < 0:
            out, self._buffer = self._buffer, b""
            return out + self._stream.read()
        out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out

    def seek(self, offset: int, whence: int = 0, /) -> int:
        raise OSError("the input cannot be rewound")

    def readline(self, size: int = -1, /) -> bytes:
        if not self._buffer:
            return self._stream.readline(size)
        end = self._buffer.find(b"\n") + 1
        if end and (size < 0 or end <= size):
            out, self._buffer = self._buffer[:end], self._buffer[end:]
            return out
        if 0 <= size <= len(self._buffer):
            out, self._buffer = self._buffer[:size], self._buffer[size:]
            return out
        out, self._buffer = self._buffer, b""
        return out + self._stream.readline(size - len(out) if size >= 0 else -1)


@contextmanager
def open_records(path: str, format: str = "auto") -> Iterator[RecordReader]:
    """Open ``path`` (``"-"`` for standard input) and give a reader for its records.

    ``format`` is ``"csv"``, ``"jsonl"`` or ``"auto"`` (by extension, else by content).
    Gzip-compressed input is recognised by its content.
    """
    if format not in ("csv", "jsonl", "auto"):
        raise ValueError(f"unknown format {format!r}")
    close: IO[bytes] | None = None
    if path == "-":
        raw: IO[bytes] = sys.stdin.buffer
        total: int | None = None
    else:
        raw = close = open(path, "rb")  # noqa: SIM115 - closed below
        total = os.fstat(raw.fileno()).st_size if os.path.isfile(path) else None
    try:
        stream = _Peekable(raw)
        position: Callable[[], int] | None = None
        if stream.peek(2) == b"\x1f\x8b":
            stream = _Peekable(gzip.GzipFile(fileobj=stream, mode="rb"))
            if total is not None:
                position = raw.tell
        fmt: Format
        if format == "auto":
            fmt = detect_format("" if path == "-" else path, stream.peek(512))
        else:
            fmt = "csv" if format == "csv" else "jsonl"
        cls = CsvReader if fmt == "csv" else JsonLinesReader
        yield cls(stream, total, position)
    finally:
        if close is not None:
            close.close()
