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
)
from lender_client.parsing import enum_or_str, parse_timestamp, required
from lender_client.upload_results import (
    BatchResult,
    RecordRejection,
    Rejection,
    SubmissionResult,
    UploadSummary,
)
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
    "RequestedAmount",
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
        )


@dataclass(frozen=True, slots=True)
class LoanPage:
    """One page of ``GET /v1/loans``."""

    data: list[Loan]
    next_cursor: str | None


def _record_kwargs(data: Mapping[str, Any]) -> dict[str, Any]:
    due = data.get("due_on")
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
    }
