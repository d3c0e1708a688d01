"""The checkpoint of an upload from a file: which batches the registry has acknowledged, so
that a run interrupted part-way (the registry restarted past the retry budget, the network
gone, the job killed) goes on where it stopped instead of sending everything again.

The checkpoint is a small JSON file, beside the input by default (``FILE.checkpoint.json``),
written atomically (a temporary file renamed over it) after acknowledged batches. It records:

- the input file's identity: its absolute path, size and modification time, and a SHA-256
  of each acknowledged batch's records as read (so that an edit that keeps the size and the
  time still shows);
- what the upload was: the registry's URL, the batch size and the file format;
- the idempotency key prefix of the upload: batch ``n`` is always sent with key
  ``f"{prefix}-{n}"``, so that a batch whose answer was lost is answered from the registry's
  record, not applied again;
- each acknowledged batch: its number, idempotency key, the digest of its records and the
  submission id the registry gave it.

A later run on the same, unchanged file skips the acknowledged batches (they are read and
checked, not sent). A changed file, another registry or another batch size makes the
checkpoint void: the upload starts from the first batch, which is safe (a record the registry
already holds counts as unchanged). When the upload completes, the checkpoint is removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "CHECKPOINT_SUFFIX",
    "AckedBatch",
    "FileIdentity",
    "UploadCheckpoint",
    "batch_digest",
    "default_checkpoint_path",
    "start_checkpoint",
]

CHECKPOINT_SUFFIX = ".checkpoint.json"
_KIND = "lender-client upload checkpoint"
_VERSION = 1
# Rewriting the whole file after every batch of a very long upload would cost more than the
# upload: between two writes at least this long. A write lost to a crash costs nothing but a
# replay (the batch goes again with its key and the registry answers from its record).
_MIN_WRITE_INTERVAL = 0.5


def default_checkpoint_path(file: str) -> Path:
    return Path(f"{file}{CHECKPOINT_SUFFIX}")


def batch_digest(records: Sequence[Mapping[str, Any]]) -> str:
    """A digest of a batch's records as read from the file (before any tokenising)."""
    text = json.dumps(list(records), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class FileIdentity:
    """Where the input file is and what it looked like when the checkpoint was made."""

    path: str
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, file: str | os.PathLike[str]) -> FileIdentity:
        stat = os.stat(file)
        return cls(os.path.realpath(file), stat.st_size, stat.st_mtime_ns)

    def change_since(self, earlier: FileIdentity) -> str | None:
        """How this file differs from ``earlier`` (``None`` if it does not)."""
        if self.path != earlier.path:
            return f"it was made for {earlier.path}"
        if self.size != earlier.size:
            return f"the file has changed since (size {earlier.size:,} -> {self.size:,} bytes)"
        if self.mtime_ns != earlier.mtime_ns:
            return "the file has changed since (it was modified after the checkpoint was made)"
        return None


@dataclass(frozen=True)
class AckedBatch:
    batch: int
    idempotency_key: str
    digest: str
    submission_id: str


@dataclass
class UploadCheckpoint:
    """The checkpoint of one upload (see the module's description)."""

    path: Path
    file: FileIdentity
    registry: str
    batch_size: int
    fmt: str
    key_prefix: str = field(default_factory=lambda: f"upload-{uuid.uuid4().hex}")
    acknowledged: list[AckedBatch] = field(default_factory=list)
    #: Records with a row in the rejects (and the warnings) file once the acknowledged
    #: batches were answered: a resumed run needs those files as they were left.
    rejected_records: int = 0
    warned_records: int = 0
    #: Batches skipped in this run, and the records in them.
    skipped: int = 0
    skipped_records: int = 0
    #: Set when a batch read in this run differs from the one acknowledged under its number.
    diverged_at: int | None = None
    _digests: dict[int, str] = field(default_factory=dict, repr=False)
    _written_at: float = field(default=0.0, repr=False)
    _dirty: bool = field(default=False, repr=False)

    # -- reading -----------------------------------------------------------------------------

    @classmethod
    def load(cls, path: Path) -> UploadCheckpoint:
        """The checkpoint saved at ``path``; ``ValueError`` if it is not a usable one,
        ``OSError`` if it cannot be read."""
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("kind") != _KIND:
            raise ValueError("it is not an upload checkpoint")
        if data.get("version") != _VERSION:
            raise ValueError(f"it is of another version ({data.get('version')!r})")
        try:
            source = data["file"]
            checkpoint = cls(
                path=path,
                file=FileIdentity(
                    str(source["path"]), int(source["size"]), int(source["mtime_ns"])
                ),
                registry=str(data["registry"]),
                batch_size=int(data["batch_size"]),
                fmt=str(data["format"]),
                key_prefix=str(data["key_prefix"]),
                acknowledged=[
                    AckedBatch(
                        int(b["batch"]),
                        str(b["idempotency_key"]),
                        str(b["sha256"]),
                        str(b["submission_id"]),
                    )
                    for b in data["acknowledged"]
                ],
                rejected_records=int(data.get("rejected_records", 0)),
                warned_records=int(data.get("warned_records", 0)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"it is damaged ({type(exc).__name__}: {exc})") from None
        if [b.batch for b in checkpoint.acknowledged] != list(range(len(checkpoint.acknowledged))):
            raise ValueError("its acknowledged batches are not 0, 1, 2, ... in order")
        return checkpoint

    def mismatch(self, other: UploadCheckpoint) -> str | None:
        """Why this saved checkpoint does not apply to the upload ``other`` describes."""
        change = other.file.change_since(self.file)
        if change is not None:
            return change
        if other.registry != self.registry:
            return f"it was made for the registry at {self.registry}"
        if other.fmt != self.fmt:
            return f"it was made reading the file as {self.fmt}"
        if other.batch_size != self.batch_size:
            return f"it was made with --batch-size {self.batch_size}"
        return None

    @property
    def acknowledged_count(self) -> int:
        return len(self.acknowledged)

    # -- during the upload -------------------------------------------------------------------

    def key_for(self, batch: int) -> str:
        return f"{self.key_prefix}-{batch}"

    def skip_batch(self, batch: int, records: Sequence[Mapping[str, Any]]) -> bool:
        """Whether batch ``batch``, with these records, was acknowledged by an earlier run
        (then it is not sent again). Remembers the digest of a batch that is to be sent."""
        digest = batch_digest(records)
        if self.diverged_at is None and batch < len(self.acknowledged):
            if self.acknowledged[batch].digest == digest:
                self.skipped += 1
                self.skipped_records += len(records)
                return True
            # The file changed without its size or time showing it: what follows from here
            # on is not what was acknowledged.
            self.diverged_at = batch
            del self.acknowledged[batch:]
            self._dirty = True
        self._digests[batch] = digest
        return False

    def acknowledge(
        self,
        batch: int,
        idempotency_key: str,
        submission_id: str,
        *,
        rejected_records: int = 0,
        warned_records: int = 0,
    ) -> None:
        """Record that the registry answered batch ``batch`` (and how many records the rejects
        and warnings files hold by then); saved now or soon after."""
        if batch != len(self.acknowledged):  # batches are answered in order, one at a time
            raise RuntimeError(f"batch {batch} acknowledged out of order")
        digest = self._digests.pop(batch)
        self.acknowledged.append(AckedBatch(batch, idempotency_key, digest, submission_id))
        self.rejected_records, self.warned_records = rejected_records, warned_records
        self._dirty = True
        if time.monotonic() - self._written_at >= _MIN_WRITE_INTERVAL:
            self.save()

    # -- writing -----------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": _KIND,
            "version": _VERSION,
            "updated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "file": {
                "path": self.file.path,
                "size": self.file.size,
                "mtime_ns": self.file.mtime_ns,
            },
            "registry": self.registry,
            "batch_size": self.batch_size,
            "format": self.fmt,
            "key_prefix": self.key_prefix,
            "rejected_records": self.rejected_records,
            "warned_records": self.warned_records,
            "acknowledged": [
                {
                    "batch": b.batch,
                    "idempotency_key": b.idempotency_key,
                    "sha256": b.digest,
                    "submission_id": b.submission_id,
                }
                for b in self.acknowledged
            ],
        }

    def save(self) -> None:
        """Write the checkpoint atomically: a temporary file in the same folder, flushed to
        disk, then renamed over the old one, so that a crash leaves the old or the new."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.to_json(), indent=1)
        handle, temporary = tempfile.mkstemp(
            prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent
        )
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        self._written_at = time.monotonic()
        self._dirty = False

    def flush(self) -> None:
        """Save what is not saved yet (at the end of a run that stopped part-way)."""
        if self._dirty:
            self.save()

    def remove(self) -> bool:
        """Remove the checkpoint (the upload is complete). Whether there was one."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        return True


def start_checkpoint(
    fresh: UploadCheckpoint,
    *,
    resume: bool | None,
    batch_size_given: bool,
    rejects_path: Path,
    warnings_path: Path,
) -> tuple[UploadCheckpoint, str | None]:
    """The checkpoint an upload goes on with, and what to tell the user about it.

    ``fresh`` describes this upload (a new key prefix, nothing acknowledged). The checkpoint
    saved at its path is taken up when it matches (``resume`` ``None`` or ``True``), unless
    ``resume`` is ``False`` (start over). A batch size left at its default follows the saved
    checkpoint's. Whatever does not match makes the upload start from the first batch.
    """
    path = fresh.path
    if not path.exists():
        if resume:
            return fresh, f"--resume: there is no checkpoint {path}; uploading every batch."
        return fresh, None
    if resume is False:
        return fresh, f"--restart: the checkpoint {path} is set aside; uploading every batch."
    try:
        saved = UploadCheckpoint.load(path)
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return fresh, f"The checkpoint {path} cannot be used ({reason}); uploading every batch."
    if not batch_size_given:
        fresh.batch_size = saved.batch_size
    why = saved.mismatch(fresh)
    if why is None and saved.rejected_records and not rejects_path.is_file():
        why = (
            f"the rejects file {rejects_path} it counted {saved.rejected_records:,} rows in is gone"
        )
    if why is None and saved.warned_records and not warnings_path.is_file():
        why = f"the warnings file {warnings_path} it counted rows in is gone"
    if why is not None:
        return fresh, (
            f"The checkpoint {path} does not apply any more: {why}. Its "
            f"{saved.acknowledged_count:,} acknowledged batch(es) are not skipped: uploading "
            "every batch (safe: a loan the registry already holds counts as unchanged)."
        )
    if not saved.acknowledged:
        return saved, None
    return saved, (
        f"Resuming from the checkpoint {path}: {saved.acknowledged_count:,} batch(es) of "
        f"{saved.batch_size:,} records were acknowledged by an earlier run; each is read and "
        "checked against the file, not sent again."
    )
