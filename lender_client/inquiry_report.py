"""The over-indebtedness report: the answer to ``POST /v1/inquiries``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lender_client.errors import UnexpectedResponseError
from lender_client.parsing import enum_or_str, money_map, parse_timestamp, required
from registry_protocol.wire import FlagCode, Purpose

__all__ = [
    "Flag",
    "InquiryReport",
    "InquirySummary",
    "InquiryWindows",
    "OwnPosition",
    "RequestedAmount",
]


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
class RequestedAmount:
    """The amount the applicant asked for, as the inquiry recorded it (minor units)."""

    amount: int
    currency: str


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
    #: The amount the inquiry gave (``None`` when it gave none, or when the registry is an
    #: older one whose reports do not say: see :attr:`requested_known`).
    requested: RequestedAmount | None = None

    @property
    def requested_known(self) -> bool:
        """Whether the report says what was requested (``"requested"``, an object or null)."""
        return "requested" in self.raw

    @property
    def flag_codes(self) -> list[str]:
        return [str(f.code) for f in self.flags]

    def has_flag(self, code: FlagCode | str) -> bool:
        return str(code) in self.flag_codes

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> InquiryReport:
        try:
            s = required(data, "summary", dict)
            w = required(s, "other_lenders_inquiring", dict)
            own = required(data, "own", dict)
            summary = InquirySummary(
                open_loans=required(s, "open_loans", int),
                lenders_with_open_loans=required(s, "lenders_with_open_loans", int),
                other_lenders_with_open_loans=required(s, "other_lenders_with_open_loans", int),
                outstanding=money_map(required(s, "outstanding", dict)),
                max_days_past_due=required(s, "max_days_past_due", int),
                past_due_loans=required(s, "past_due_loans", int),
                written_off_loans=required(s, "written_off_loans", int),
                loans_opened_last_30d=required(s, "loans_opened_last_30d", int),
                other_lenders_inquiring=InquiryWindows(
                    last_1d=required(w, "1d", int),
                    last_7d=required(w, "7d", int),
                    last_30d=required(w, "30d", int),
                    last_90d=required(w, "90d", int),
                ),
            )
            flags = [
                Flag(
                    code=enum_or_str(FlagCode, required(f, "code", str)),
                    detail=str(f.get("detail") or ""),
                )
                for f in required(data, "flags", list)
            ]
            return cls(
                inquiry_id=required(data, "inquiry_id", str),
                borrower=required(data, "borrower", str),
                generated_at=parse_timestamp(required(data, "generated_at", str)),
                purpose=enum_or_str(Purpose, required(data, "purpose", str)),
                summary=summary,
                own=OwnPosition(
                    open_loans=required(own, "open_loans", int),
                    outstanding=money_map(required(own, "outstanding", dict)),
                ),
                flags=flags,
                raw=dict(data),
                requested=_requested(data.get("requested")),
            )
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise UnexpectedResponseError(f"unreadable inquiry response: {exc}") from exc


def _requested(value: Any) -> RequestedAmount | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise TypeError(f"'requested' should be an object or null, got {type(value).__name__}")
    return RequestedAmount(
        amount=required(value, "amount", int), currency=required(value, "currency", str)
    )
