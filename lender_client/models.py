"""Typed records sent to and received from the registry.

Money is always an ``int`` in minor units (fen, cents): 12,345.67 CNY is ``1234567``.
Dates are :class:`datetime.date`; timestamps are timezone-aware :class:`datetime.datetime`.
Objects built from a server response keep the decoded JSON in ``raw``.

This module holds the loan records; the upload results are in
:mod:`lender_client.upload_results`, the inquiry report in :mod:`lender_client.inquiry_report`,
and all stay importable from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from lender_client.errors import UnexpectedResponseError
from lender_client.formatting import format_money, format_timestamp
from lender_client.inquiry_report import (
    Flag,
    InquiryReport,
    InquirySummary,
    InquiryWindows,
    OwnPosition,
    RequestedAmount,
    Tradeline,
)
from lender_client.parsing import enum_or_str, parse_timestamp, required
from lender_client.upload_results import (
    BatchResult,
    RecordRejection,
    RecordWarning,
    Rejection,
    SubmissionResult,
    UploadSummary,
    UploadWarning,
)
from registry_protocol.wire import (
    FlagCode,
    LoanStatus,
    PaymentFrequency,
    Product,
    Purpose,
    RetractionReason,
    SpecialEvent,
)

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
    "PaymentFrequency",
    "Product",
    "Purpose",
    "RecordRejection",
    "RecordWarning",
    "Rejection",
    "RequestedAmount",
    "Retraction",
    "RetractionReason",
    "SpecialEvent",
    "SubmissionResult",
    "Tradeline",
    "UploadSummary",
    "UploadWarning",
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
#: The fields a report may add (issue 9's loan state), each sent only when set, so that a
#: record without them is the same JSON as before. ``credit_limit`` is required for revolving
#: products (``credit_line``), ``amount_past_due`` when ``days_past_due > 0``, ``closed_on``
#: for ``closed`` and ``written_off``: the registry says so, field by field.
EXTRA_FIELDS: tuple[str, ...] = (
    "credit_limit",
    "scheduled_payment",
    "payment_frequency",
    "amount_past_due",
    "closed_on",
    "special_event",
    "correction",
)
#: Every field a report may carry, in the order the CSV format documents them.
ALL_RECORD_FIELDS: tuple[str, ...] = RECORD_FIELDS + EXTRA_FIELDS
#: The columns that name a borrower by ID, in place of ``borrower``: tokenised by the client.
ID_FIELDS: tuple[str, ...] = ("id_kind", "id_value")
#: The borrower's phone number, a secondary identifier beside the borrower (never in place
#: of it): tokenised by the client and sent as ``phone_token``; an empty cell is not sent.
PHONE_FIELDS: tuple[str, ...] = ("phone",)
INTEGER_FIELDS: frozenset[str] = frozenset(
    {
        "principal",
        "outstanding",
        "days_past_due",
        "credit_limit",
        "scheduled_payment",
        "amount_past_due",
    }
)
#: Columns a CSV header may leave out: ``due_on`` (an empty cell is sent as null) and the
#: extra fields (an empty cell is not sent at all).
OPTIONAL_FIELDS: frozenset[str] = frozenset({"due_on", *EXTRA_FIELDS})
_OPTIONAL_MONEY = ("credit_limit", "scheduled_payment", "amount_past_due")


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
    the ID itself never leaves the process (``id_value`` is left out of the ``repr``). A phone
    number never names the borrower (``id_kind="phone"`` is rejected): give it as ``phone``,
    a secondary identifier that ``report_loans`` tokenises and sends as ``phone_token`` (or
    give ``phone_token`` yourself); the number never leaves the process either.

    The loan's limit, payments and arrears (``credit_limit``, ``scheduled_payment`` with
    ``payment_frequency``, ``amount_past_due``), its closing date (``closed_on``, for
    ``closed`` and ``written_off``) and a ``special_event`` are optional here and sent only
    when set; the registry requires some of them for some loans (a credit line's limit, the
    amount past due of a late loan, the closing date of a closed one) and says which.
    ``correction=True`` replaces the stored state reported with the same ``as_of`` instead of
    being refused (see :meth:`RegistryClient.correct <lender_client.RegistryClient.correct>`).

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
    credit_limit: int | None = None
    scheduled_payment: int | None = None
    payment_frequency: PaymentFrequency | str | None = None
    amount_past_due: int | None = None
    closed_on: date | None = None
    special_event: SpecialEvent | str | None = None
    correction: bool = False
    phone: str | None = field(default=None, repr=False)
    phone_token: str | None = None

    def __post_init__(self) -> None:
        for name in ("loan_ref", "product", "currency", "status"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"LoanReport.{name} must be a str")
        for name in (
            "borrower",
            "borrower_next",
            "id_kind",
            "id_value",
            "payment_frequency",
            "special_event",
            "phone",
            "phone_token",
        ):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise TypeError(f"LoanReport.{name} must be a str or None")
        if self.phone is not None and self.phone_token is not None:
            raise ValueError("LoanReport: give phone or phone_token, not both")
        for name in _OPTIONAL_MONEY:
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise TypeError(f"LoanReport.{name} must be an int (minor units) or None")
        if self.closed_on is not None and (
            isinstance(self.closed_on, datetime) or not isinstance(self.closed_on, date)
        ):
            raise TypeError("LoanReport.closed_on must be a datetime.date or None")
        if not isinstance(self.correction, bool):
            raise TypeError("LoanReport.correction must be a bool")
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
        for name in ("principal", "outstanding", "days_past_due"):
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
        ``id_value`` in place of ``borrower``, and one with a phone number ``phone`` in place
        of ``phone_token`` (the form ``report_loans`` tokenises)."""
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
        # The extra fields only when set: an older record is the same JSON as before.
        for name in _OPTIONAL_MONEY:
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.payment_frequency is not None:
            out["payment_frequency"] = str(self.payment_frequency)
        if self.closed_on is not None:
            out["closed_on"] = self.closed_on.isoformat()
        if self.special_event is not None:
            out["special_event"] = str(self.special_event)
        if self.correction:
            out["correction"] = True
        # The number only in this local form (report_loans sends its token in its place).
        if self.phone is not None:
            out["phone"] = self.phone
        if self.phone_token is not None:
            out["phone_token"] = self.phone_token
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
    #: The loan state fields of issue 9; ``None`` when the registry holds none (a loan
    #: reported without them, or an older registry that does not send them).
    credit_limit: int | None = None
    scheduled_payment: int | None = None
    payment_frequency: PaymentFrequency | str | None = None
    amount_past_due: int | None = None
    closed_on: date | None = None
    special_event: SpecialEvent | str | None = None
    #: For a loan written off: the balance of the first report that wrote it off, and when
    #: (kept after it is repaid or closed).
    written_off_amount: int | None = None
    written_off_on: date | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Loan:
        try:
            kwargs = _record_kwargs(data)
            kwargs.pop("correction", None)  # a stored loan is a state, not a correction
            first = data.get("first_reported_at")
            last = data.get("last_reported_at")
            written_off_on = _optional_str(data, "written_off_on")
            return cls(
                **kwargs,
                written_off_amount=_optional_int(data, "written_off_amount"),
                written_off_on=date.fromisoformat(written_off_on) if written_off_on else None,
                first_reported_at=parse_timestamp(first) if first is not None else None,
                last_reported_at=parse_timestamp(last) if last is not None else None,
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
            credit_limit=self.credit_limit,
            scheduled_payment=self.scheduled_payment,
            payment_frequency=self.payment_frequency,
            amount_past_due=self.amount_past_due,
            closed_on=self.closed_on,
            special_event=self.special_event,
        )


@dataclass(frozen=True, slots=True)
class Retraction:
    """The tombstone ``DELETE /v1/loans/<loan_ref>`` answers: which loan, when, why."""

    loan_ref: str
    retracted_at: datetime
    reason: RetractionReason | str
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Retraction:
        try:
            return cls(
                loan_ref=required(data, "loan_ref", str),
                retracted_at=parse_timestamp(required(data, "retracted_at", str)),
                reason=enum_or_str(RetractionReason, required(data, "reason", str)),
                raw=dict(data),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise UnexpectedResponseError(f"unreadable retraction in response: {exc}") from exc


@dataclass(frozen=True, slots=True)
class LoanPage:
    """One page of ``GET /v1/loans``."""

    data: list[Loan]
    next_cursor: str | None


def _optional_int(data: Mapping[str, Any], key: str) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{key!r} should be int or null, got {type(value).__name__}")
    return int(value)


def _optional_str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{key!r} should be str or null, got {type(value).__name__}")
    return value


def _record_kwargs(data: Mapping[str, Any]) -> dict[str, Any]:
    due = data.get("due_on")
    closed = _optional_str(data, "closed_on")
    frequency = _optional_str(data, "payment_frequency")
    event = _optional_str(data, "special_event")
    correction = data.get("correction", False)
    if not isinstance(correction, bool):
        raise TypeError(f"'correction' should be bool, got {type(correction).__name__}")
    return {
        "loan_ref": required(data, "loan_ref", str),
        "borrower": required(data, "borrower", str),
        "product": enum_or_str(Product, required(data, "product", str)),
        "currency": required(data, "currency", str),
        "principal": required(data, "principal", int),
        "outstanding": required(data, "outstanding", int),
        "opened_on": date.fromisoformat(required(data, "opened_on", str)),
        "due_on": date.fromisoformat(due) if isinstance(due, str) and due else None,
        "status": enum_or_str(LoanStatus, required(data, "status", str)),
        "days_past_due": required(data, "days_past_due", int),
        "as_of": parse_timestamp(required(data, "as_of", str)),
        "credit_limit": _optional_int(data, "credit_limit"),
        "scheduled_payment": _optional_int(data, "scheduled_payment"),
        "payment_frequency": enum_or_str(PaymentFrequency, frequency) if frequency else None,
        "amount_past_due": _optional_int(data, "amount_past_due"),
        "closed_on": date.fromisoformat(closed) if closed else None,
        "special_event": enum_or_str(SpecialEvent, event) if event else None,
        "correction": correction,
    }
