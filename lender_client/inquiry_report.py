"""The over-indebtedness report: the answer to ``POST /v1/inquiries``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from lender_client.errors import UnexpectedResponseError
from lender_client.parsing import enum_or_str, money_map, parse_timestamp, required
from registry_protocol.payment_status import NO_REPORT, worse
from registry_protocol.wire import FlagCode, LoanStatus, Product, Purpose, SpecialEvent

__all__ = [
    "PROVISIONAL",
    "Flag",
    "Identity",
    "InquiryReport",
    "InquirySummary",
    "InquiryWindows",
    "OwnPosition",
    "RequestedAmount",
    "Tradeline",
]


#: The ``status`` of a tradeline that is an approved application not yet reported as a loan.
PROVISIONAL = "provisional"


@dataclass(frozen=True, slots=True)
class Flag:
    """A warning the registry raises about an applicant, e.g. ``MULTI_LENDER``."""

    code: FlagCode | str
    detail: str


@dataclass(frozen=True, slots=True)
class InquiryWindows:
    """How many other lenders made ``new_credit`` inquiries about the borrower in the last
    hour, 24 hours, 1/7/30/90 days (``last_1h`` and ``last_24h`` are ``None`` from a registry
    that does not send them)."""

    last_1d: int
    last_7d: int
    last_30d: int
    last_90d: int
    last_1h: int | None = None
    last_24h: int | None = None


@dataclass(frozen=True, slots=True)
class InquirySummary:
    """The borrower's position across all lenders (including the caller).

    The figures after ``other_lenders_inquiring`` came with tradelines (negative history,
    debt burden, velocity, freshness); each is ``None`` when the registry's report does not
    carry it (an older registry), and ``outstanding_with_request`` also when the inquiry named
    no ``amount_requested``. Per-currency figures are dicts keyed by ISO 4217 code, money in
    minor units; ``utilisation`` is a :class:`~decimal.Decimal` ratio (``Decimal("0.4250")``).
    """

    open_loans: int
    lenders_with_open_loans: int
    other_lenders_with_open_loans: int
    outstanding: dict[str, int]
    max_days_past_due: int
    past_due_loans: int
    written_off_loans: int
    loans_opened_last_30d: int
    other_lenders_inquiring: InquiryWindows
    worst_days_past_due_12m: int | None = None
    worst_days_past_due_24m: int | None = None
    last_delinquent_on: date | None = None
    written_off_amount: dict[str, int] | None = None
    amount_past_due: dict[str, int] | None = None
    monthly_obligations: dict[str, int] | None = None
    credit_limit: dict[str, int] | None = None
    utilisation: dict[str, Decimal] | None = None
    outstanding_with_request: dict[str, int] | None = None
    lenders_opened_30d: int | None = None
    lenders_opened_90d: int | None = None
    lenders_opened_180d: int | None = None
    loans_closed_90d: int | None = None
    stale_open_loans: int | None = None
    #: Other lenders' applications: ``new_credit`` inquiries of the last 7 days with no
    #: outcome yet, and the amounts they asked for (per currency)...
    pending_applications: int | None = None
    pending_amount: dict[str, int] | None = None
    #: ...and approved applications not yet reported as loans (provisional loans).
    provisional_loans: int | None = None
    provisional_amount: dict[str, int] | None = None
    #: Tradelines whose record the borrower disputes, not answered yet (``disputed``).
    disputed_tradelines: int | None = None


@dataclass(frozen=True, slots=True)
class Identity:
    """Identity signals from the phone numbers seen with the borrower, across all lenders
    (the phones themselves are never shown): how many distinct phones in 90 days, and the
    most distinct borrowers seen with any one of them in 90 days."""

    phones_90d: int
    max_borrowers_per_phone: int


@dataclass(frozen=True, slots=True)
class Tradeline:
    """One account of the borrower, the lender hidden behind a label (``"A"``, ``"B"``, ...)
    that is stable within one report and means nothing outside it; ``own`` marks the
    caller's own accounts.

    ``status_24m`` is the 24-month payment-status string, oldest month first, one character
    per calendar month: ``N`` no report, ``0`` current, ``C`` closed, ``1`` 1-30 days past
    due, ``2`` 31-60, ... ``6`` 151-180, ``7`` over 180, ``W`` written off (see
    :mod:`registry_protocol.payment_status`). ``stale``: the latest report is older than the
    registry's freshness limit (``age_days`` old).

    A *provisional* tradeline (``status == "provisional"``) is another lender's approved
    application not yet reported as a loan: ``product`` is ``None``, the limit and the balance
    are the approved amount, and ``provisional_until`` says when it leaves the report if the
    loan is not reported before.
    """

    lender: str
    own: bool
    product: Product | str | None
    currency: str
    credit_limit: int | None
    outstanding: int
    amount_past_due: int | None
    days_past_due: int
    status: LoanStatus | str
    special_event: SpecialEvent | str | None
    opened_month: str | None
    closed_month: str | None
    last_reported_on: date | None
    age_days: int | None
    stale: bool
    status_24m: str
    provisional_until: date | None = None
    #: The borrower disputes this record and its lender has not answered yet (past the
    #: deadline it counts towards no flag).
    disputed: bool = False

    @property
    def provisional(self) -> bool:
        """Whether this is an approved application not yet reported as a loan."""
        return self.status == PROVISIONAL

    @property
    def worst_24m(self) -> str:
        """The worst character of :attr:`status_24m` (``"N"`` if no month was reported)."""
        worst = NO_REPORT
        for character in self.status_24m:
            try:
                worst = worse(worst, character)
            except KeyError:  # a character this client does not know
                continue
        return worst

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Tradeline:
        event = _opt(data, "special_event", str)
        reported = _opt(data, "last_reported_on", str)
        if "product" not in data:
            raise KeyError("missing 'product'")
        product = _opt(data, "product", str)  # null for a provisional loan
        return cls(
            lender=required(data, "lender", str),
            own=bool(data.get("own", False)),
            product=enum_or_str(Product, product) if product is not None else None,
            currency=required(data, "currency", str),
            credit_limit=_opt(data, "credit_limit", int),
            outstanding=required(data, "outstanding", int),
            amount_past_due=_opt(data, "amount_past_due", int),
            days_past_due=required(data, "days_past_due", int),
            status=enum_or_str(LoanStatus, required(data, "status", str)),
            special_event=enum_or_str(SpecialEvent, event) if event else None,
            opened_month=_opt(data, "opened_month", str),
            closed_month=_opt(data, "closed_month", str),
            last_reported_on=date.fromisoformat(reported[:10]) if reported else None,
            age_days=_opt(data, "age_days", int),
            stale=bool(data.get("stale", False)),
            status_24m=str(data.get("status_24m") or ""),
            provisional_until=_opt_date(data, "provisional_until"),
            disputed=bool(data.get("disputed", False)),
        )


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
    #: One entry per account of the borrower (empty from an older registry: see
    #: :attr:`tradelines_known`).
    tradelines: list[Tradeline] = field(default_factory=list)
    #: Identity signals from phones (``None`` from a registry that does not send them).
    identity: Identity | None = None
    #: The borrower's own statement about their record (个人声明), if they attached one.
    statement: str | None = None

    @property
    def tradelines_known(self) -> bool:
        """Whether the report carries tradelines at all (newer registries do)."""
        return "tradelines" in self.raw

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
                    last_1h=_opt(w, "1h", int),
                    last_24h=_opt(w, "24h", int),
                ),
                worst_days_past_due_12m=_opt(s, "worst_days_past_due_12m", int),
                worst_days_past_due_24m=_opt(s, "worst_days_past_due_24m", int),
                last_delinquent_on=_opt_date(s, "last_delinquent_on"),
                written_off_amount=_opt_money(s, "written_off_amount"),
                amount_past_due=_opt_money(s, "amount_past_due"),
                monthly_obligations=_opt_money(s, "monthly_obligations"),
                credit_limit=_opt_money(s, "credit_limit"),
                utilisation=_ratios(s.get("utilisation")),
                outstanding_with_request=_opt_money(s, "outstanding_with_request"),
                lenders_opened_30d=_opt(s, "lenders_opened_30d", int),
                lenders_opened_90d=_opt(s, "lenders_opened_90d", int),
                lenders_opened_180d=_opt(s, "lenders_opened_180d", int),
                loans_closed_90d=_opt(s, "loans_closed_90d", int),
                stale_open_loans=_opt(s, "stale_open_loans", int),
                pending_applications=_opt(s, "pending_applications", int),
                pending_amount=_opt_money(s, "pending_amount"),
                provisional_loans=_opt(s, "provisional_loans", int),
                provisional_amount=_opt_money(s, "provisional_amount"),
                disputed_tradelines=_opt(s, "disputed_tradelines", int),
            )
            lines = data.get("tradelines")
            if lines is not None and not isinstance(lines, list):
                raise TypeError("'tradelines' should be a list")
            tradelines = [Tradeline.from_json(t) for t in lines or []]
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
                tradelines=tradelines,
                identity=_identity(data.get("identity")),
                statement=_opt(data, "statement", str),
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


def _identity(value: Any) -> Identity | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise TypeError(f"'identity' should be an object, got {type(value).__name__}")
    return Identity(
        phones_90d=required(value, "phones_90d", int),
        max_borrowers_per_phone=required(value, "max_borrowers_per_phone", int),
    )


def _opt(data: Mapping[str, Any], key: str, kind: type[Any]) -> Any:
    """``data[key]`` if present and not null (checked to be a ``kind``), else ``None``."""
    if data.get(key) is None:
        return None
    return required(data, key, kind)


def _opt_date(data: Mapping[str, Any], key: str) -> date | None:
    value = _opt(data, key, str)
    return date.fromisoformat(value[:10]) if value else None


def _opt_money(data: Mapping[str, Any], key: str) -> dict[str, int] | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise TypeError(f"{key!r} should be an object keyed by currency")
    return money_map(value)


def _ratios(value: Any) -> dict[str, Decimal] | None:
    """Utilisation per currency: decimal strings (``"0.4250"``), numbers tolerated."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise TypeError("'utilisation' should be an object keyed by currency")
    out: dict[str, Decimal] = {}
    for currency, ratio in value.items():
        if isinstance(ratio, bool) or not isinstance(ratio, str | int | float):
            raise TypeError(f"utilisation for {currency!r} should be a decimal string")
        try:
            out[str(currency)] = Decimal(str(ratio))
        except InvalidOperation:
            raise ValueError(f"utilisation for {currency!r} is not a number") from None
    return out
