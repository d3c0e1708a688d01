"""Streaming readers for loan report files: CSV with a header row, and JSON Lines.

Both read a file of any size one line at a time and yield, for each record, either a
:class:`SourceRecord` (the record as the API takes it, plus the line it starts on) or a
:class:`BadLine` (a row that cannot even be parsed, with the reason). A bad row never stops the
reading. A problem with the file as a whole (no header, unknown columns) raises
:class:`FileFormatError` before any record is yielded.

CSV
    The first row names the columns: the record fields ``loan_ref, borrower, product,
    currency, principal, outstanding, opened_on, due_on, status, days_past_due, as_of`` in any
    order (``due_on`` may be left out). In place of ``borrower`` (a token) a file may name
    each borrower by ID, with the two columns ``id_kind, id_value`` (e.g.
    ``cn_resident_id,11010519491231002X``): the client tokenises those before sending. An
    empty ``due_on`` is sent as null; ``principal``, ``outstanding`` and ``days_past_due`` are
    sent as integers when they parse as such and as the text they hold otherwise, so that the
    registry says what is wrong with them. Each record is one line (quoted fields may hold
    commas, not line breaks); lines count from 1, the header. Blank lines are skipped, and a
    UTF-8 byte order mark is ignored.

JSON Lines
    One JSON object per line, with the record fields as members (``id_kind`` and
    ``id_value`` in place of ``borrower`` if wanted, record by record). Blank lines are skipped.
    A line that parses but could not be sent on as JSON text is a bad line too: one holding
    an unpaired surrogate escape such as ``"\\ud800"`` (not Unicode text), a number too
    large for a float (``1e400``), or values nested more than 32 levels deep.

Either may be gzip-compressed (detected by content). Compressed data that is damaged or cut
short ends the reading with a bad line at the point where it fails.
"""

from __future__ import annotations

import csv
import gzip
import json
import math
import os
import re
import sys
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any, Literal, Protocol

from lender_client.models import ID_FIELDS, INTEGER_FIELDS, OPTIONAL_FIELDS, RECORD_FIELDS

__all__ = [
    "MAX_DEPTH",
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

#: How deeply a JSON Lines record may nest arrays and objects (a record's fields are flat).
MAX_DEPTH = 32

_INTEGER = re.compile(r"\s*[+-]?\d+\s*")
_BOM = b"\xef\xbb\xbf"
# A JSON escape of a UTF-16 surrogate: paired, it is one character; alone, it is not text.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
# What reading damaged or truncated gzip data raises.
_DAMAGED = (EOFError, zlib.error, gzip.BadGzipFile)


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

    def _raw_lines(self) -> Iterator[tuple[int, bytes | str]]:
        """``(line number, bytes)`` for each physical line, or ``(line number, problem)`` for
        one that is too long, or where damaged compressed data ends the reading."""
        lineno = 0
        try:
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
                    yield lineno, f"line is longer than {MAX_LINE_BYTES} bytes"
                    continue
                yield lineno, raw
        except _DAMAGED as exc:
            # (A line being skipped for its length counts as read: the failure is on the next.)
            damaged = f"the compressed file is damaged or cut short ({exc})"
            yield lineno + 1, f"{damaged}; nothing from this line on could be read"


class JsonLinesReader(RecordReader):
    """Reads one JSON object per line."""

    format: Format = "jsonl"

    def __iter__(self) -> Iterator[SourceRecord | BadLine]:
        for lineno, raw in self._raw_lines():
            if isinstance(raw, str):
                yield BadLine(lineno, raw)
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield BadLine(lineno, _not_utf8(exc))
                continue
            if not text.strip():
                continue
            try:
                value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
            except RecursionError:
                yield BadLine(lineno, "invalid JSON: nested too deeply")
                continue
            except ValueError as exc:
                reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
                column = f" at column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
                yield BadLine(lineno, f"invalid JSON: {reason}{column}")
                continue
            if not isinstance(value, dict):
                yield BadLine(lineno, f"expected a JSON object, found {_json_kind(value)}")
                continue
            # Cheap tests on the text first: most lines need no walk over their values.
            surrogates = _SURROGATE_ESCAPE.search(text) is not None
            if surrogates or "[" in text or text.count("{") > 1:
                problem = _unsendable(value, surrogates)
                if problem is not None:
                    name, message = problem
                    ref = value.get("loan_ref")
                    ref = ref if isinstance(ref, str) and _is_text(ref) else None
                    yield BadLine(lineno, message, ref, name)
                    continue
            yield SourceRecord(lineno, value)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        shown = text if len(text) <= 24 else text[:20] + "..."
        raise ValueError(f"the number {shown} is too large")
    return value


def _is_text(value: str) -> bool:
    """Whether ``value`` is Unicode text (holds no lone surrogate), i.e. can be encoded."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _surrogate_problem(value: str) -> str:
    bad = next(c for c in value if "\ud800" <= c <= "\udfff")
    return f"is not valid Unicode text: it holds the unpaired surrogate \\u{ord(bad):04x}"


def _unsendable(record: dict[str, Any], surrogates: bool) -> tuple[str, str] | None:
    """``(field, problem)`` for the first member of ``record`` that could not be sent as JSON
    text, else ``None``. ``surrogates``: whether the line has surrogate escapes, so that its
    strings must be checked. The field is ``""`` when the member's own name is the problem."""
    for name, value in record.items():
        if surrogates and not _is_text(name):
            return "", f"a member name {_surrogate_problem(name)}"
        problem = _value_problem(value, surrogates, 1)
        if problem is not None:
            return name, problem
    return None


def _value_problem(value: Any, surrogates: bool, depth: int) -> str | None:
    if isinstance(value, str):
        return _surrogate_problem(value) if surrogates and not _is_text(value) else None
    if isinstance(value, dict):
        items: list[Any] = [*value.keys(), *value.values()]
    elif isinstance(value, list):
        items = value
    else:
        return None
    if depth > MAX_DEPTH:
        return f"is nested more than {MAX_DEPTH} levels deep"
    for item in items:
        problem = _value_problem(item, surrogates, depth + 1)
        if problem is not None:
            return problem
    return None


def _not_utf8(exc: UnicodeDecodeError) -> str:
    return (
        f"line is not valid UTF-8 (byte 0x{exc.object[exc.start]:02X} at byte {exc.start + 1}"
        " of the line); save the file as UTF-8"
    )


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
            if isinstance(raw, str):
                yield lineno, None, raw
                continue
            try:
                text = raw.decode("utf-8")
                problem = ""
            except UnicodeDecodeError as exc:
                text = raw.decode("utf-8", errors="replace")
                problem = _not_utf8(exc)
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
        by_id = ", ".join(ID_FIELDS)
        try:
            _, header, problem = next(rows)
        except StopIteration:
            raise FileFormatError(
                f"the file is empty: expected a header row naming the columns {expected}"
            ) from None
        if header is None or problem:
            raise FileFormatError(f"cannot read the header row: {problem}")
        columns = [c.strip().lower() for c in header]
        known = (*RECORD_FIELDS, *ID_FIELDS)
        unknown = [c for c in columns if c not in known]
        if unknown:
            raise FileFormatError(
                f"unknown column(s) in the header: {', '.join(map(repr, unknown))}; "
                f"the columns are: {expected} (or {by_id} in place of borrower)"
            )
        duplicated = sorted({c for c in columns if columns.count(c) > 1})
        if duplicated:
            raise FileFormatError(f"column(s) named twice in the header: {', '.join(duplicated)}")
        id_columns = [c for c in ID_FIELDS if c in columns]
        if id_columns and "borrower" in columns:
            raise FileFormatError(
                f"the header names both borrower and {', '.join(id_columns)}: name each "
                f"borrower either by token (borrower) or by ID ({by_id}), not both"
            )
        required = [f for f in RECORD_FIELDS if f not in OPTIONAL_FIELDS]
        if id_columns:
            required = [f for f in required if f != "borrower"] + list(ID_FIELDS)
        missing = [f for f in required if f not in columns]
        if missing:
            raise FileFormatError(
                f"missing column(s) in the header: {', '.join(missing)}; "
                f"the columns are: {expected} (or {by_id} in place of borrower)"
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
            try:
                head = stream.peek(512)
            except _DAMAGED as exc:
                raise FileFormatError(
                    f"the compressed file is damaged or cut short ({exc})"
                ) from None
            fmt = detect_format("" if path == "-" else path, head)
        else:
            fmt = "csv" if format == "csv" else "jsonl"
        cls = CsvReader if fmt == "csv" else JsonLinesReader
        yield cls(stream, total, position)
    finally:
        if close is not None:
            close.close()
