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
    registry says what is wrong with them. The optional columns ``credit_limit,
    scheduled_payment, payment_frequency, amount_past_due, closed_on, special_event,
    correction`` may be added in any order; an empty cell in one of them is not sent (the
    record is then what it would be without the column), money cells are integers as above,
    and ``correction`` is ``true``/``false`` (also ``1``/``0``, ``yes``/``no``; false is not
    sent). A ``phone`` column may give the borrower's phone number, a secondary identifier
    beside the borrower (never in place of it): tokenised by the client and sent as
    ``phone_token``, an empty cell not sent. Each record is one line (quoted fields may hold
    commas, not line breaks); lines count from 1, the header. Blank lines are skipped, and a
    UTF-8 byte order mark is ignored.

JSON Lines
    One JSON object per line, with the record fields as members (``id_kind`` and
    ``id_value`` in place of ``borrower`` if wanted, record by record, and ``phone`` beside
    it). Blank lines are skipped.
    A line that parses but could not be sent on as JSON text is a bad line too: one holding
    an unpaired surrogate escape such as ``"\\ud800"`` (not Unicode text), a number too
    large for a float (``1e400``), or values nested more than 32 levels deep.

Either may be gzip-compressed (detected by content). Compressed data that is damaged or cut
short ends the reading with a bad line at the point where it fails.

The readers are :mod:`lender_client.csv_reader` and :mod:`lender_client.jsonl_reader`, on the
base in :mod:`lender_client.record_reader`; this module picks and opens one.
"""

from __future__ import annotations

import gzip
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO

from lender_client.csv_reader import CsvReader
from lender_client.jsonl_reader import MAX_DEPTH, JsonLinesReader
from lender_client.record_reader import (
    BOM,
    DAMAGED,
    MAX_LINE_BYTES,
    BadLine,
    FileFormatError,
    Format,
    ReadSource,
    RecordReader,
    SourceRecord,
)

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


def detect_format(name: str, head: bytes) -> Format:
    """``"csv"`` or ``"jsonl"`` from the file name's extension, else from its first bytes."""
    lowered = name.lower()
    if lowered.endswith(".gz"):
        lowered = lowered[:-3]
    if lowered.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if lowered.endswith((".csv", ".txt")):
        return "csv"
    stripped = head.removeprefix(BOM).lstrip()
    return "jsonl" if stripped.startswith(b"{") else "csv"


class _Peekable:
    """A byte stream that can look ahead without consuming (any ``read``-able source)."""

    def __init__(self, stream: ReadSource) -> None:
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
            except DAMAGED as exc:
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
