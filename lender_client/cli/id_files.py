"""Reading borrowers' IDs from a lender's own records, for `retokenize`: any CSV with a
header naming `id_kind` and `id_value` (other columns are ignored, so a loan book or an
export of applications will do), or JSON Lines objects with those members; either may be
gzip-compressed. A row without both (one naming its borrower by token) is skipped."""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, cast

import click

GZIP_MAGIC = b"\x1f\x8b"


class IdFileError(click.UsageError):
    """A file that cannot be read as a list of IDs."""


def read_ids(paths: Iterable[str]) -> Iterator[tuple[str, str]]:
    """(id_kind, id_value) of every row of every file, in order."""
    for path in paths:
        yield from _read_one(Path(path))


def _read_one(path: Path) -> Iterator[tuple[str, str]]:
    try:
        with path.open("rb") as raw:
            binary: IO[bytes] = raw
            start = raw.peek(64)
            if start.startswith(GZIP_MAGIC):
                unpacked = gzip.GzipFile(fileobj=raw)
                binary, start = cast(IO[bytes], unpacked), unpacked.peek(64)
            text = io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")
            name = path.name.removesuffix(".gz")
            if name.endswith((".jsonl", ".ndjson")) or start.lstrip().startswith(b"{"):
                yield from _jsonl(text, path)
            else:
                yield from _csv(text, path)
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as exc:
        raise IdFileError(f"{path}: cannot read it ({exc})") from None


def _csv(text: io.TextIOWrapper, path: Path) -> Iterator[tuple[str, str]]:
    reader = csv.reader(text)
    header = next(reader, None)
    columns = [name.strip().lower() for name in header or []]
    if "id_kind" not in columns or "id_value" not in columns:
        raise IdFileError(
            f"{path}: the header row must name the columns id_kind and id_value "
            "(other columns are ignored)"
        )
    kind_at, value_at = columns.index("id_kind"), columns.index("id_value")
    for row in reader:
        if len(row) > max(kind_at, value_at):
            kind, value = row[kind_at].strip(), row[value_at].strip()
            if kind and value:
                yield kind, value


def _jsonl(text: io.TextIOWrapper, path: Path) -> Iterator[tuple[str, str]]:
    for number, line in enumerate(text, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            raise IdFileError(f"{path}: line {number} is not a JSON object") from None
        if not isinstance(record, dict):
            raise IdFileError(f"{path}: line {number} is not a JSON object")
        kind, value = record.get("id_kind"), record.get("id_value")
        if isinstance(kind, str) and isinstance(value, str) and kind and value:
            yield kind, value
