"""Bookkeeping of an upload from a file: which source line each record came from, the rejects
file written in line order, the counts of the summary, and the checkpoint that lets a later
run skip what the registry has acknowledged."""

from __future__ import annotations

import csv
import os
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from lender_client.checkpoint import UploadCheckpoint
from lender_client.files import BadLine, RecordReader
from lender_client.models import (
    BatchResult,
    UploadSummary,
)

REJECTS_HEADER = ("line", "loan_ref", "field", "message")


@dataclass
class RejectsFile:
    """Writes rejected rows (or the warnings about accepted ones) as they come, opening the
    file only once there is one."""

    path: Path
    rows: int = 0
    records: int = 0
    _handle: IO[str] | None = None
    _writer: Any = None

    def write(self, line: int, loan_ref: str | None, fields: list[tuple[str, str]]) -> None:
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # backslashreplace: a lone surrogate echoed back in a loan_ref or message must
            # not stop the upload.
            self._handle = self.path.open(
                "w", newline="", encoding="utf-8", errors="backslashreplace"
            )
            self._writer = csv.writer(self._handle)
            self._writer.writerow(REJECTS_HEADER)
        self.records += 1
        for name, message in fields or [("", "rejected")]:
            self._writer.writerow((line, loan_ref or "", name, message))
            self.rows += 1

    def flush(self) -> None:
        if self._handle is not None:
            self._handle.flush()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def resume_after(self, last_line: int) -> None:
        """Go on with the file an earlier run of the same upload wrote: keep its rows up to
        source line ``last_line`` (those of the batches this run skips), drop the others (they
        are written again) and append from there."""
        if self._writer is not None or not self.path.is_file():
            return
        # Always valid UTF-8: this class writes it (backslashreplace).
        with self.path.open(encoding="utf-8", errors="replace", newline="") as handle:
            rows = list(csv.reader(handle))
        if not rows or tuple(rows[0]) != REJECTS_HEADER:
            return  # not ours: it is overwritten as usual
        kept = [row for row in rows[1:] if row and row[0].isdigit() and int(row[0]) <= last_line]
        # Rewritten aside and renamed: a crash now must not lose the rows kept.
        temporary = self.path.with_name(f".{self.path.name}.tmp")
        with temporary.open("w", newline="", encoding="utf-8", errors="backslashreplace") as out:
            writer = csv.writer(out)
            writer.writerow(REJECTS_HEADER)
            writer.writerows(kept)
        os.replace(temporary, self.path)
        self._handle = self.path.open("a", newline="", encoding="utf-8", errors="backslashreplace")
        self._writer = csv.writer(self._handle)
        self.records, self.rows = len({row[0] for row in kept}), len(kept)

    def remove_stale(self) -> bool:
        """Remove a rejects file left by an earlier run (only if it is one of ours)."""
        if self._writer is not None or not self.path.is_file():
            return False
        try:
            with self.path.open(encoding="utf-8", newline="") as handle:
                first = handle.readline().strip()
        except (OSError, UnicodeDecodeError):
            return False
        if first != ",".join(REJECTS_HEADER):
            return False
        self.path.unlink()
        return True


@dataclass
class UploadTracker:
    """Maps the records sent back to their source lines and writes rejections in line order."""

    reader: RecordReader
    rejects: RejectsFile
    on_progress: Callable[[], None]
    require_ids: bool = False
    #: Where the registry's warnings about accepted rows go (same columns as the rejects).
    warnings: RejectsFile | None = None
    records_read: int = 0
    unreadable: int = 0
    ids_tokenized: int = 0
    #: Batches an earlier run had sent, skipped in this one, and the last source line in them.
    skipped_batches: int = 0
    skipped_records: int = 0
    last_skipped_line: int = 0
    summary: UploadSummary = field(default_factory=UploadSummary)
    _lines: deque[int] = field(default_factory=deque)
    _bad: list[BadLine] = field(default_factory=list)

    @property
    def rows_read(self) -> int:
        """Every data row of the file: the records handed on, and the rows refused as
        unreadable (or, when re-tokenising, naming no ID)."""
        return self.records_read + self.unreadable

    @property
    def rejected_locally(self) -> int:
        """Rows refused here, never sent: unreadable rows and records whose ID is not valid."""
        return self.unreadable + self.summary.rejected_locally

    def records(self) -> Iterator[dict[str, Any]]:
        for item in self.reader:
            if isinstance(item, BadLine):
                self.unreadable += 1
                self._bad.append(item)
                continue
            if self.require_ids and "id_kind" not in item.data and "id_value" not in item.data:
                self.unreadable += 1
                field = "borrower" if "borrower" in item.data else "id_kind"
                message = "re-tokenising needs the borrower's ID: id_kind and id_value"
                self._bad.append(BadLine(item.line, message, item.loan_ref, field))
                continue
            self.records_read += 1
            self._lines.append(item.line)
            yield item.data

    def on_batch(self, batch: BatchResult) -> None:
        lines = [self._lines.popleft() for _ in range(batch.size)]
        out: list[tuple[int, str | None, list[tuple[str, str]]]] = []
        for rejection in batch.rejected:
            position = rejection.index - batch.start_index
            line = lines[position] if 0 <= position < len(lines) else 0
            out.append((line, rejection.loan_ref, [(e.field, e.message) for e in rejection.errors]))
        if self.warnings is not None:
            for warning in batch.warnings:
                position = warning.index - batch.start_index
                line = lines[position] if 0 <= position < len(lines) else 0
                self.warnings.write(line, warning.loan_ref, [(warning.field, warning.message)])
        self.summary.add(batch, keep_rejections=False)
        last_line = lines[-1] if lines else 0
        keep: list[BadLine] = []
        for bad in self._bad:
            if bad.line <= last_line:
                out.append((bad.line, bad.loan_ref, [(bad.field, bad.message)]))
            else:
                keep.append(bad)
        self._bad = keep
        for line, ref, errors in sorted(out, key=lambda row: row[0]):
            self.rejects.write(line, ref, errors)
        self.on_progress()

    def skip(self, size: int) -> None:
        """A batch of ``size`` records is not sent (an earlier run had it acknowledged): its
        rows, and the unreadable rows among them, are already in the rejects file."""
        lines = [self._lines.popleft() for _ in range(size)]
        self.skipped_batches += 1
        self.skipped_records += size
        if lines:
            self.last_skipped_line = lines[-1]
        self._bad = [bad for bad in self._bad if bad.line > self.last_skipped_line]
        self.on_progress()

    def flush(self) -> None:
        for bad in sorted(self._bad, key=lambda b: b.line):
            self.rejects.write(bad.line, bad.loan_ref, [(bad.field, bad.message)])
        self._bad = []


@dataclass
class CheckpointedUpload:
    """An upload that keeps a checkpoint: skips the batches an earlier run had acknowledged,
    records each batch the registry answers, and removes the checkpoint once it completes."""

    checkpoint: UploadCheckpoint
    tracker: UploadTracker
    _files_resumed: bool = False

    def skip_batch(self, batch: int, records: list[dict[str, Any]]) -> bool:
        if self.checkpoint.skip_batch(batch, records):
            self.tracker.skip(len(records))
            return True
        self.settle()
        return False

    def settle(self) -> None:
        """Once the batches to skip are behind (or the upload ends): the rejects and warnings
        files go on from the earlier run's rows of the skipped batches."""
        if self._files_resumed:
            return
        self._files_resumed = True
        if self.tracker.skipped_batches:
            line = self.tracker.last_skipped_line
            self.tracker.rejects.resume_after(line)
            if self.tracker.warnings is not None:
                self.tracker.warnings.resume_after(line)

    def on_batch(self, batch: BatchResult) -> None:
        self.tracker.on_batch(batch)
        # On disk before the checkpoint counts them: a crash must not leave it counting more.
        self.tracker.rejects.flush()
        warned = 0
        if self.tracker.warnings is not None:
            self.tracker.warnings.flush()
            warned = self.tracker.warnings.records
        self.checkpoint.acknowledge(
            batch.batch,
            batch.idempotency_key,
            batch.submission_id,
            rejected_records=self.tracker.rejects.records,
            warned_records=warned,
        )

    def finish(self, complete: bool) -> str | None:
        """Remove the checkpoint of a complete upload, or save it for the next run; what to
        tell the user."""
        if complete:
            self.checkpoint.remove()
            return None
        self.checkpoint.flush()
        count = self.checkpoint.acknowledged_count
        if not count:
            return None
        return (
            f"{count:,} batch(es) acknowledged so far are recorded in {self.checkpoint.path}: "
            "run the same command again (or add --resume) to send only the rest."
        )
