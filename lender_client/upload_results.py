"""What an upload achieved: the answer to one ``POST /v1/loans`` and the totals of a stream
sent in batches."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lender_client.errors import FieldError, UnexpectedResponseError
from lender_client.parsing import required

__all__ = [
    "BatchResult",
    "RecordRejection",
    "RecordWarning",
    "Rejection",
    "SubmissionResult",
    "UploadSummary",
    "UploadWarning",
]


@dataclass(frozen=True, slots=True)
class RecordRejection:
    """A record one ``POST /v1/loans`` refused; ``index`` is its position in that request."""

    index: int
    loan_ref: str | None
    errors: list[FieldError]


@dataclass(frozen=True, slots=True)
class RecordWarning:
    """Something odd about a record one ``POST /v1/loans`` accepted (an open loan long past
    its ``due_on`` with nothing past due, for example): the record is stored, and the
    warning counts in the lender's data-quality score. ``index`` is its position in that
    request; ``field`` the field it is about, as the registry names it."""

    index: int
    loan_ref: str | None
    field: str
    message: str

    @property
    def record_field(self) -> str:
        """The field without the ``loans[<i>].`` prefix."""
        return FieldError(self.field, self.message).record_field


@dataclass(frozen=True, slots=True)
class SubmissionResult:
    """The answer to one ``POST /v1/loans``.

    ``warnings`` lists the accepted records the registry warns about; it is empty when the
    registry sent none (an older registry sends no ``warnings`` member at all).
    """

    submission_id: str
    accepted: int
    unchanged: int
    stale: int
    rejected: list[RecordRejection]
    idempotency_key: str
    raw: dict[str, Any] = field(repr=False, compare=False)
    warnings: list[RecordWarning] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: Mapping[str, Any], idempotency_key: str) -> SubmissionResult:
        try:
            rejected: list[RecordRejection] = []
            for item in required(data, "rejected", list):
                ref = item.get("loan_ref")
                errors = [
                    FieldError(str(e.get("field") or ""), str(e.get("message") or ""))
                    for e in item.get("errors") or []
                ]
                rejected.append(
                    RecordRejection(
                        index=required(item, "index", int),
                        loan_ref=ref if isinstance(ref, str) else None,
                        errors=errors,
                    )
                )
            return cls(
                submission_id=required(data, "submission_id", str),
                accepted=required(data, "accepted", int),
                unchanged=required(data, "unchanged", int),
                stale=required(data, "stale", int),
                rejected=rejected,
                idempotency_key=idempotency_key,
                raw=dict(data),
                warnings=_warnings(data.get("warnings")),
            )
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise UnexpectedResponseError(f"unreadable upload response: {exc}") from exc


def _warnings(value: Any) -> list[RecordWarning]:
    """The ``warnings`` of an upload's answer: absent or null is none. Each is
    ``{index, loan_ref, field, message}``; one grouping several under ``warnings`` (or
    ``errors``) as ``[{field, message}]`` is read as one warning each."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise TypeError(f"'warnings' should be a list, got {type(value).__name__}")
    out: list[RecordWarning] = []
    for item in value:
        index = required(item, "index", int)
        ref = item.get("loan_ref")
        ref = ref if isinstance(ref, str) else None
        grouped = item.get("warnings", item.get("errors"))
        entries = grouped if isinstance(grouped, list) else [item]
        for entry in entries:
            out.append(
                RecordWarning(
                    index=index,
                    loan_ref=ref,
                    field=str(entry.get("field") or ""),
                    message=str(entry.get("message") or ""),
                )
            )
    return out


@dataclass(frozen=True, slots=True)
class Rejection:
    """A record of a :meth:`~lender_client.RegistryClient.report_loans` stream that was refused.

    ``index`` is the record's 0-based position in the whole stream the caller passed in, and
    each error's ``field`` is the record field (``"due_on"``, not ``"loans[3].due_on"``).
    """

    index: int
    loan_ref: str | None
    errors: list[FieldError]
    batch: int

    @property
    def reasons(self) -> str:
        return "; ".join(f"{e.field}: {e.message}" if e.field else e.message for e in self.errors)


@dataclass(frozen=True, slots=True)
class UploadWarning:
    """A warning about a record of a :meth:`~lender_client.RegistryClient.report_loans`
    stream that was accepted: ``index`` is its 0-based position in the whole stream, and
    ``field`` the record field (``"due_on"``, not ``"loans[3].due_on"``)."""

    index: int
    loan_ref: str | None
    field: str
    message: str
    batch: int


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What one batch of :meth:`~lender_client.RegistryClient.report_loans` achieved; given
    to its ``on_batch`` callback."""

    batch: int
    start_index: int
    size: int
    submission_id: str
    idempotency_key: str
    accepted: int
    unchanged: int
    stale: int
    rejected: list[Rejection]
    elapsed: float
    #: How many records of the batch named their borrower by ID and were tokenised.
    tokenized: int = 0
    #: How many of ``rejected`` were refused here, before sending (an ID that is not valid):
    #: the registry never saw them.
    rejected_locally: int = 0
    #: Accepted records the registry warns about, in stream order.
    warnings: list[UploadWarning] = field(default_factory=list)

    @property
    def sent(self) -> int:
        """How many records of the batch were sent to the registry."""
        return self.size - self.rejected_locally

    @property
    def rejected_by_registry(self) -> int:
        return len(self.rejected) - self.rejected_locally


@dataclass(slots=True)
class UploadSummary:
    """Totals of a :meth:`~lender_client.RegistryClient.report_loans` call.

    ``records`` counts every record the call was given; ``rejected_count`` every record
    rejected, of which ``rejected_locally`` were refused before sending (never seen by the
    registry) and :attr:`rejected_by_registry` were sent and refused. ``sent`` counts the
    records sent.
    """

    records: int = 0
    batches: int = 0
    accepted: int = 0
    unchanged: int = 0
    stale: int = 0
    rejected_count: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    submission_ids: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    #: Records that named their borrower by ID and were tokenised before sending.
    tokenized: int = 0
    #: Records sent to the registry (the others were refused here).
    sent: int = 0
    #: Records refused before sending (an ID that is not valid).
    rejected_locally: int = 0
    #: Warnings the registry gave about records it accepted (one record may have several).
    warnings_count: int = 0
    #: The warnings themselves (empty with ``keep_rejections=False``, as for rejections).
    warnings: list[UploadWarning] = field(default_factory=list)

    @property
    def rejected_by_registry(self) -> int:
        """Records the registry received and rejected."""
        return self.rejected_count - self.rejected_locally

    @property
    def ok(self) -> bool:
        """True when no record was rejected."""
        return self.rejected_count == 0

    @property
    def records_per_second(self) -> float:
        return self.records / self.elapsed if self.elapsed > 0 else 0.0

    def add(self, batch: BatchResult, keep_rejections: bool = True) -> None:
        self.records += batch.size
        self.batches += 1
        self.accepted += batch.accepted
        self.unchanged += batch.unchanged
        self.stale += batch.stale
        self.rejected_count += len(batch.rejected)
        self.tokenized += batch.tokenized
        self.sent += batch.sent
        self.rejected_locally += batch.rejected_locally
        self.warnings_count += len(batch.warnings)
        if keep_rejections:
            self.rejected.extend(batch.rejected)
            self.warnings.extend(batch.warnings)
        if batch.submission_id:  # "" when every record was refused before sending
            self.submission_ids.append(batch.submission_id)
