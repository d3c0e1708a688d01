"""What the file readers yield (a :class:`SourceRecord` or a :class:`BadLine`) and their common
base, :class:`RecordReader`: physical lines of bounded length, byte position for progress,
damaged compressed data reported as a bad line."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, Protocol

__all__ = [
    "BOM",
    "DAMAGED",
    "MAX_LINE_BYTES",
    "BadLine",
    "FileFormatError",
    "Format",
    "ReadSource",
    "RecordReader",
    "SourceRecord",
    "not_utf8",
]

Format = Literal["csv", "jsonl"]

#: A physical line longer than this is reported as a bad line (and skipped) instead of being
#: held in memory.
MAX_LINE_BYTES = 1 << 20

BOM = b"\xef\xbb\xbf"
# What reading damaged or truncated gzip data raises.
DAMAGED = (EOFError, zlib.error, gzip.BadGzipFile)


class ReadSource(Protocol):
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
        stream: ReadSource,
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
                if lineno == 1 and raw.startswith(BOM):
                    raw = raw[len(BOM) :]
                if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                    while True:
                        more = self._stream.readline(MAX_LINE_BYTES + 1)
                        self._consumed += len(more)
                        if not more or more.endswith(b"\n"):
                            break
                    yield lineno, f"line is longer than {MAX_LINE_BYTES} bytes"
                    continue
                yield lineno, raw
        except DAMAGED as exc:
            # (A line being skipped for its length counts as read: the failure is on the next.)
            damaged = f"the compressed file is damaged or cut short ({exc})"
            yield lineno + 1, f"{damaged}; nothing from this line on could be read"


def not_utf8(exc: UnicodeDecodeError) -> str:
    return (
        f"line is not valid UTF-8 (byte 0x{exc.object[exc.start]:02X} at byte {exc.start + 1}"
        " of the line); save the file as UTF-8"
    )
