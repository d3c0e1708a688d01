"""The CSV reader: a header row naming the record fields, then one record per line."""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator
from typing import Any

from lender_client.models import (
    ALL_RECORD_FIELDS,
    EXTRA_FIELDS,
    ID_FIELDS,
    INTEGER_FIELDS,
    OPTIONAL_FIELDS,
    PHONE_FIELDS,
    RECORD_FIELDS,
)
from lender_client.record_reader import (
    BadLine,
    FileFormatError,
    Format,
    ReadSource,
    RecordReader,
    SourceRecord,
    not_utf8,
)

__all__ = ["CsvReader"]

_INTEGER = re.compile(r"\s*[+-]?\d+\s*")
_BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


class CsvReader(RecordReader):
    """Reads CSV with a header row naming the record fields, one record per line.

    A quoted field may hold commas but not line breaks: no record field has any, and reading
    line by line means that a stray quote spoils only its own line instead of silently
    joining the lines after it into one row.
    """

    format: Format = "csv"

    def __init__(
        self,
        stream: ReadSource,
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
                problem = not_utf8(exc)
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
        known = (*ALL_RECORD_FIELDS, *ID_FIELDS, *PHONE_FIELDS)
        unknown = [c for c in columns if c not in known]
        if unknown:
            raise FileFormatError(
                f"unknown column(s) in the header: {', '.join(map(repr, unknown))}; "
                f"the columns are: {expected} (or {by_id} in place of borrower), and "
                f"optionally {', '.join(EXTRA_FIELDS + PHONE_FIELDS)}"
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
        kinds = _column_kinds(columns)
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
                yield SourceRecord(lineno, _csv_record(kinds, cells))


# How each column's cell becomes a value (decided once per file, from the header).
_PLAIN, _INT, _CORRECTION, _OPTIONAL = range(4)


def _column_kinds(columns: list[str]) -> list[tuple[str, bool, int]]:
    """``(name, an empty cell is left out, conversion)`` for each column."""
    kinds = []
    for name in columns:
        blank_left_out = name in EXTRA_FIELDS or name in PHONE_FIELDS
        if name in INTEGER_FIELDS:
            conversion = _INT
        elif name == "correction":
            conversion = _CORRECTION
        elif name in OPTIONAL_FIELDS or blank_left_out:
            conversion = _OPTIONAL
        else:
            conversion = _PLAIN  # taken as it is
        kinds.append((name, blank_left_out, conversion))
    return kinds


def _csv_record(kinds: list[tuple[str, bool, int]], row: list[str]) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for (name, blank_left_out, conversion), cell in zip(kinds, row, strict=True):
        if conversion == _PLAIN:
            record[name] = cell
            continue
        blank = not cell.strip()
        if blank and blank_left_out:
            continue  # not sent: the record is what it would be without the column
        value: Any = cell
        if conversion == _INT:
            # Plain digits (the common case) spare the pattern.
            if (cell.isascii() and cell.isdigit()) or _INTEGER.fullmatch(cell):
                value = int(cell)
            elif blank and name in OPTIONAL_FIELDS:
                value = None
        elif conversion == _CORRECTION and cell.strip().lower() in _BOOLEANS:
            if not _BOOLEANS[cell.strip().lower()]:
                continue  # not a correction: sent as an ordinary report
            value = True
        elif blank and name in OPTIONAL_FIELDS:
            value = None
        record[name] = value
    return record
