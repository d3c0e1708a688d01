"""Typed records sent to and received from the registry.

Money is always an ``int`` in minor units (fen, cents): 12,345.67 CNY is ``1234567``.
Dates are :class:`datetime.date`; timestamps are timezone-aware :class:`datetime.datetime`.
Objects built from a server response keep the decoded JSON in ``raw``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from lender_client.errors import FieldError, UnexpectedResponseError
from registry_protocol.wire import FlagCode, LoanStatus, Product, Purpose

__all__ = [
    "ID_FIELDS",
    "BatchResult",
    "Flag",
    "FlagCode",
    "InquiryReport",
    "InquirySummary",
    "InquiryWindows",
    "Loan",
    "LoanPage",
    "LoanReport",
    "LoanStatus",
    "OwnPosition",
    "Product",
    "Purpose",
    "RecordRejection",
    "Rejection",
    "SubmissionResult",
    "UploadSummary",
    "format_money",
    "format_timestamp",
]


# The fields of a loan report, in the order the CSV format and the API document them.
RECORD_FIELDS: tuple[str, ...] = (
    "loan_ref",
    "borrower",
    "product",
    "currency",
    "principal",
    "outstanding",
    "opened_on",
    "due_on",
    "status",
    "days_past_due",
    "as_of",
)
#: The columns that name a borrower by ID, in place of ``borrower``: tokenised by the client.
ID_FIELDS: tuple[str, ...] = ("id_kind", "id_value")
INTEGER_FIELDS: frozenset[str] = frozenset({"principal", "outstanding", "days_past_due"})
OPTIONAL_FIELDS: frozenset[str] = frozenset({"due_on"})


def format_timestamp(value: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``, e.g. ``2026-11-20T10:00:00Z``. Naive values are refused."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamp must be timezone-aware (e.g. datetime.now(UTC))")
    utc = value.astimezone(UTC)
    spec = "microseconds" if utc.microsecond else "seconds"
    return utc.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


# ISO 4217 currencies whose minor unit is not 1/100 of the major unit.
_MINOR_DIGITS = {
    **dict.fromkeys(
        (
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "UYI",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ),
        0,
    ),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
}


def format_money(minor_units: int, currency: str) -> str:
    """``format_money(1234567, "CNY") == "12,345.67 CNY"`` (minor units to major units)."""
    digits = _MINOR_DIGITS.get(currency.upper(), 2)
    sign = "-" if minor_units < 0 else ""
    major, minor = divmod(abs(minor_units), 10**digits)
    text = f"{major:,}"
    if digits:
        text += f".{minor:0{digits}d}"
    return f"{sign}{text} {currency}"


@dataclass(frozen=True, kw_only=True, slots=True)
class LoanReport:
    """The state of one loan as of a moment, as a lender reports it.

    >>> LoanReport(
    ...     loan_ref="L-1001", borrower="ab" * 32, product=Product.CASH_LOAN, currency="CNY",
    ...     principal=500000, outstanding=320000, opened_on=date(2026, 3, 1),
    ...     due_on=date(2027, 3, 1), status=LoanStatus.OPEN, days_past_due=0,
    ...     as_of=datetime(2026, 11, 20, 10, 0, tzinfo=UTC),
    ... ).to_json()["as_of"]
    '2026-11-20T10:00:00Z'

    The borrower is named either by their token (``borrower``, 64 hex, and during a rotation
    window perhaps ``borrower_next``) or by their ID (``id_kind`` and ``id_value``, e.g.
    ``id_kind="cn_resident_id"``): :meth:`RegistryClient.report_loans
    <lender_client.RegistryClient.report_loans>` then tokenises the ID before sending, and
    the ID itself never leaves the process (``id_value`` is left out of the ``repr``).

    Only types are checked here (and that ``as_of`` is timezone-aware); the registry checks
    the values and says what is wrong with each record it rejects.
    """

    loan_ref: str
    borrower: str | None = None
    product: Product | str
    currency: str
    principal: int
    outstanding: int
    opened_on: date
    due_on: date | None = None
    status: LoanStatus | str
    days_past_due: int = 0
    as_of: datetime
    borrower_next: str | None = None
    id_kind: str | None = None
    id_value: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        for name in ("loan_ref", "product", "currency", "status"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"LoanReport.{name} must be a str")
        for name in ("borrower", "borrower_next", "id_kind", "id_value"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise TypeError(f"LoanReport.{name} must be a str or None")
        by_id = self.id_kind is not None or self.id_value is not None
        if by_id:
            if self.borrower is not None or self.borrower_next is not None:
                raise ValueError(
                    "LoanReport: give either borrower (a token) or id_kind and id_value, not both"
                )
            if self.id_kind is None or self.id_value is None:
                raise ValueError("LoanReport: id_kind and id_value go together")
        elif self.borrower is None:
            raise ValueError("LoanReport: give borrower (a token) or id_kind and id_value")
        for name in INTEGER_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"LoanReport.{name} must be an int (minor units for money)")
        if isinstance(self.opened_on, datetime) or not isinstance(self.opened_on, date):
            raise TypeError("LoanReport.opened_on must be a datetime.date")
        if self.due_on is not None and (
            isinstance(self.due_on, datetime) or not isinstance(self.due_on, date)
        ):
            raise TypeError("LoanReport.due_on must be a datetime.date or None")
        if not isinstance(self.as_of, datetime):
            raise TypeError("LoanReport.as_of must be a datetime.datetime")
        if self.as_of.tzinfo is None or self.as_of.utcoffset() is None:
            raise ValueError("LoanReport.as_of must be timezone-aware (e.g. tzinfo=UTC)")

    @property
    def by_id(self) -> bool:
        """Whether the borrower is named by an ID (still to be tokenised)."""
        return self.id_kind is not None

    def to_json(self) -> dict[str, Any]:
        """The record as the API takes it; a record named by ID has ``id_kind`` and
        ``id_value`` in place of ``borrower`` (the form ``report_loans`` tokenises)."""
        out: dict[str, Any] = {"loan_ref": self.loan_ref}
        if self.by_id:
            out["id_kind"] = self.id_kind
            out["id_value"] = self.id_value
        else:
            out["borrower"] = self.borrower
            if self.borrower_next is not None:
                out["borrower_next"] = self.borrower_next
        out.update(
            {
                "product": str(self.product),
                "currency": self.currency,
                "principal": self.principal,
                "outstanding": self.outstanding,
                "opened_on": self.opened_on.isoformat(),
                "due_on": self.due_on.isoformat() if self.due_on is not None else None,
                "status": str(self.status),
                "days_past_due": self.days_past_due,
                "as_of": format_timestamp(self.as_of),
            }
        )
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LoanReport:
        """Parse a record in the API's JSON form (raises ``ValueError``/``TypeError``)."""
        return cls(**_record_kwargs(data))


@dataclass(frozen=True, kw_only=True, slots=True)
class Loan:
    """A loan as the registry holds it for the calling lender (``GET /v1/loans/<ref>``)."""

    loan_ref: str
    borrower: str
    product: Product | str
    currency: str
    principal: int
    outstanding: int
    opened_on: date
    due_on: date | None
    status: LoanStatus | str
    days_past_due: int
    as_of: datetime
    first_reported_at: datetime | None
    last_reported_at: datetime | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Loan:
        try:
            kwargs = _record_kwargs(data)
            first = data.get("first_reported_at")
            last = data.get("last_reported_at")
            return cls(
                **kwargs,
                first_reported_at=_parse_timestamp(first) if first is not None else None,
                last_reported_at=_parse_timestamp(last) if last is not None else None,
                raw=dict(data),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise UnexpectedResponseError(f"unreadable loan in response: {exc}") from exc

    def to_report(self) -> LoanReport:
        """The report that would restate this loan as it is."""
        return LoanReport(
            loan_ref=self.loan_ref,
            borrower=self.borrower,
            product=self.product,
            currency=self.currency,
            principal=self.principal,
            outstanding=self.outstanding,
            opened_on=self.opened_on,
            due_on=self.due_on,
            status=self.status,
            days_past_due=self.days_past_due,
            as_of=self.as_of,
        )


@dataclass(frozen=True, slots=True)
class LoanPage:
    """One page of ``GET /v1/loans``."""

    data: list[Loan]
    next_cursor: str | None


def _record_kwargs(data: Mapping[str, Any]) -> dict[str, Any]:
    due = data.get("due_on")
    return {
        "loan_ref": _req(data, "loan_ref", str),
        "borrower": _req(data, "borrower", str),
        "product": _enum_or_str(Product, _req(data, "product", str)),
        "currency": _req(data, "currency", str),
        "principal": _req(data, "principal", int),
        "outstanding": _req(data, "outstanding", int),
        "opened_on": date.fromisoformat(_req(data, "opened_on", str)),
        "due_on": date.fromisoformat(due) if isinstance(due, str) and due else None,
        "status": _enum_or_str(LoanStatus, _req(data, "status", str)),
        "days_past_due": _req(data, "days_past_due", int),
        "as_of": _parse_timestamp(_req(data, "as_of", str)),
    }


_E = TypeVar("_E", bound=enum.StrEnum)
_T = TypeVar("_T")


def _enum_or_str(kind: type[_E], value: str) -> _E | str:
    # A value this client does not know yet (a newer server) is kept as a plain string.
    try:
        return kind(value)
    except ValueError:
        return value


def _req(data: Mapping[str, Any], key: str, kind: type[_T]) -> _T:
    if key not in data:
        raise KeyError(f"missing {key!r}")
    value = data[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise TypeError(f"{key!r} should be {kind.__name__}, got {type(value).__name__}")
    return value


def _parse_timestamp(value: Any) -> datetime:
    if not isinstance(value, str):
        raise TypeError(f"timestamp should be a string, got {type(value).__name__}")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


@dataclass(frozen=True, slots=True)
class RecordRejection:
    """A record one ``POST /v1/loans`` refused; ``index`` is its position in that request."""

    index: int
    loan_ref: str | None
    errors: list[FieldError]


@dataclass(frozen=True, slots=True)
class SubmissionResult:
    """The answer to one ``POST /v1/loans``."""

    submission_id: str
    accepted: int
    unchanged: int
    stale: int
    rejected: list[RecordRejection]
    idempotency_key: str
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any], idempotency_key: str) -> SubmissionResult:
        try:
            rejected: list[RecordRejection] = []
            for item in _req(data, "rejected", list):
                ref = item.get("loan_ref")
                errors = [
                    FieldError(str(e.get("field") or ""), str(e.get("message") or ""))
                    for e in item.get("errors") or []
                ]
                rejected.append(
                    RecordRejection(
                        index=_req(item, "index", int),
                        loan_ref=ref if isinstance(ref, str) else None,
                        errors=errors,
                    )
                )
            return cls(
                submission_id=_req(data, "submission_id", str),
                accepted=_req(data, "accepted", int),
                unchanged=_req(data, "unchanged", int),
                stale=_req(data, "stale", int),
                rejected=rejected,
                idempotency_key=idempotency_key,
                raw=dict(data),
            )
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise UnexpectedResponseError(f"unreadable upload response: {exc}") from exc


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


@dataclass(slots=True)
class UploadSummary:
    """Totals of a :meth:`~lender_client.RegistryClient.report_loans` call."""

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
        if keep_rejections:
            self.rejected.extend(batch.rejected)
        if batch.submission_id:  # "" when every record was refused before sending
            self.submission_ids.append(batch.submission_id)


@dataclass(frozen=True, slots=True)
class Flag:
    """A warning the registry raises about an applicant, e.g. ``MULTI_LENDER``."""

    code: FlagCode | str
    detail: str


@dataclass(frozen=True, slots=True)
class InquiryWindows:
    """How many other lenders inquired about the borrower in the last 1/7/30/90 days."""

    last_1d: int
    last_7d: int
    last_30d: int
    last_90d: int


@dataclass(frozen=True, slots=True)
class InquirySummary:
    """The borrower's position across all lenders (including the caller)."""

    open_loans: int
    lenders_with_open_loans: int
    other_lenders_with_open_loans: int
    outstanding: dict[str, int]
    max_days_past_due: int
    past_due_loans: int
    written_off_loans: int
    loans_opened_last_30d: int
    other_lenders_inquiring: InquiryWindows


@dataclass(frozen=True, slots=True)
class OwnPosition:
    """The caller's own open loans to the borrower."""

    open_loans: int
    outstanding: dict[str, int]


@dataclass(frozen=True, slots=True)
class InquiryReport:
    """The answer to ``POST /v1/inquiries``."""

    inquiry_id: str
    borrower: str
    generated_at: datetime
    purpose: Purpose | str
    summary: InquirySummary
    own: OwnPosition
    flags: list[Flag]
    raw: dict[str, Any] = field(repr=False, compare=False)

    @property
    def flag_codes(self) -> list[str]:
        return [str(f.code) for f in self.flags]

    def has_flag(self, code: FlagCode | str) -> bool:
        return str(code) in self.flag_codes

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> InquiryReport:
        try:
            s = _req(data, "summary", dict)
            w = _req(s, "other_lenders_inquiring", dict)
            own = _req(data, "own", dict)
            summary = InquirySummary(
                open_loans=_req(s, "open_loans", int),
                lenders_with_open_loans=_req(s, "lenders_with_open_loans", int),
                other_lenders_with_open_loans=_req(s, "other_lenders_with_open_loans", int),
                outstanding=_money_map(_req(s, "outstanding", dict)),
                max_days_past_due=_req(s, "max_days_past_due", int),
                past_due_loans=_req(s, "past_due_loans", int),
                written_off_loans=_req(s, "written_off_loans", int),
                loans_opened_last_30d=_req(s, "loans_opened_last_30d", int),
                other_lenders_inquiring=InquiryWindows(
                    last_1d=_req(w, "1d", int),
                    last_7d=_req(w, "7d", int),
                    last_30d=_req(w, "30d", int),
                    last_90d=_req(w, "90d", int),
                ),
            )
            flags = [
                Flag(
                    code=_enum_or_str(FlagCode, _req(f, "code", str)),
                    detail=str(f.get("detail") or ""),
                )
                for f in _req(data, "flags", list)
            ]
            return cls(
                inquiry_id=_req(data, "inquiry_id", str),
                borrower=_req(data, "borrower", str),
                generated_at=_parse_timestamp(_req(data, "generated_at", str)),
                purpose=_enum_or_str(Purpose, _req(data, "purpose", str)),
                summary=summary,
                own=OwnPosition(
                    open_loans=_req(own, "open_loans", int),
                    outstanding=_money_map(_req(own, "outstanding", dict)),
                ),
                flags=flags,
                raw=dict(data),
            )
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise UnexpectedResponseError(f"unreadable inquiry response: {exc}") from exc


def _money_map(data: Mapping[str, Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for currency, amount in data.items():
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise TypeError(f"amount for {currency!r} should be int")
        out[str(currency)] = amount
    return out
